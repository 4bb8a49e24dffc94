# quantity part of tug_api: resource.Quantity parsing shared by every component.
list(APPEND TUG_API_SRCS ${CMAKE_CURRENT_SOURCE_DIR}/quantity.cc)
list(APPEND TUG_API_TESTS quantity_test:${CMAKE_CURRENT_SOURCE_DIR}/quantity_test.cc)
