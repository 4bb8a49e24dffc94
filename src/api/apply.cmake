# apply part of tug_api: field sets, server-side apply, managed-fields tracking (owner: ssa).
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/apply/field_set.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/apply/typed.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/apply/apply.cc)
foreach(_t field_set_test apply_test)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/apply/${_t}.cc)
    list(APPEND TUG_API_TESTS ${_t}:${CMAKE_CURRENT_SOURCE_DIR}/apply/${_t}.cc)
  endif()
endforeach()
