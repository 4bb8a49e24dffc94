# validation part of tug_api (owner: validation): field errors, defaulting, validation.
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/field_error.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/defaults/defaults.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/validation/helpers.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/validation/object_meta.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/validation/pod.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/validation/cron.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/validation/validation.cc
)
list(APPEND TUG_API_TESTS
  field_error_test:${CMAKE_CURRENT_SOURCE_DIR}/field_error_test.cc
  defaults_test:${CMAKE_CURRENT_SOURCE_DIR}/defaults/defaults_test.cc
  validation_test:${CMAKE_CURRENT_SOURCE_DIR}/validation/validation_test.cc
)
