# printers part of tug_api (owner: printers): per-kind strategies, Table printers, field
# selectors.
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/strategy.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/util.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/core_tables.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/workload_tables.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/other_tables.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/fields.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/printers/prepare.cc
)
list(APPEND TUG_API_TESTS
  printers_test:${CMAKE_CURRENT_SOURCE_DIR}/printers/printers_test.cc
  strategy_test:${CMAKE_CURRENT_SOURCE_DIR}/printers/strategy_test.cc
)
