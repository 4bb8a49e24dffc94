# registry.cmake — schema registry, the generated built-in schema, discovery and OpenAPI
# (owner: schema). Included by src/api/CMakeLists.txt.
set(_tug_schema_json ${CMAKE_CURRENT_SOURCE_DIR}/schema/kube.json)
set(_tug_schema_cc ${CMAKE_CURRENT_BINARY_DIR}/kube_schema_embed.cc)
add_custom_command(
  OUTPUT ${_tug_schema_cc}
  COMMAND ${CMAKE_COMMAND} -DIN=${_tug_schema_json} -DOUT=${_tug_schema_cc}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/schema/embed.cmake
  DEPENDS ${_tug_schema_json} ${CMAKE_CURRENT_SOURCE_DIR}/schema/embed.cmake
  COMMENT "Embedding src/api/schema/kube.json"
  VERBATIM)
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/registry.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/discovery.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/openapi.cc
  ${_tug_schema_cc})
list(APPEND TUG_API_TESTS
  registry_test:${CMAKE_CURRENT_SOURCE_DIR}/registry_test.cc
  discovery_test:${CMAKE_CURRENT_SOURCE_DIR}/discovery_test.cc
  openapi_test:${CMAKE_CURRENT_SOURCE_DIR}/openapi_test.cc)
