# conversion part of tug_api: served (old) versions <-> storage versions.
list(APPEND TUG_API_SRCS ${CMAKE_CURRENT_SOURCE_DIR}/conversion/conversion.cc)
list(APPEND TUG_API_TESTS conversion_test:${CMAKE_CURRENT_SOURCE_DIR}/conversion/conversion_test.cc)
