# crd part of tug_api: CustomResourceDefinitions — registries with custom resources, CRD and
# custom-object validation, defaulting/pruning, printer columns, status (owner: crd).
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/crd/registry_crd.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/crd/object_validation.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/crd/crd_validation.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/crd/columns_status.cc)
if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/crd/crd_test.cc)
  list(APPEND TUG_API_TESTS crd_test:${CMAKE_CURRENT_SOURCE_DIR}/crd/crd_test.cc)
endif()
