# codec part of tug_api: JSON/YAML/protobuf decoding, schema check, patches (owner: codec).
list(APPEND TUG_API_SRCS
  ${CMAKE_CURRENT_SOURCE_DIR}/codec_util.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/codec_json.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/codec_protobuf.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/schema_check.cc
  ${CMAKE_CURRENT_SOURCE_DIR}/patch.cc)
list(APPEND TUG_API_DEPS yaml-cpp)
foreach(_t codec_json_test codec_protobuf_test schema_check_test patch_test codec_fuzz_test)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${_t}.cc)
    list(APPEND TUG_API_TESTS ${_t}:${CMAKE_CURRENT_SOURCE_DIR}/${_t}.cc)
  endif()
endforeach()

# libFuzzer targets (clang only): cmake -DCMAKE_CXX_COMPILER=clang++ ..., then run e.g.
#   build/src/api/fuzz_decode_json -max_total_time=60
# With g++ the same entry points are exercised by codec_fuzz_test.
function(_tug_codec_fuzz_targets)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    return()
  endif()
  foreach(f decode_json yaml_to_json decode_protobuf json_patch merge_patch strategic_merge_patch)
    if(NOT EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.cc)
      continue()
    endif()
    add_executable(fuzz_${f} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${f}.cc)
    target_compile_options(fuzz_${f} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_options(fuzz_${f} PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_${f} PRIVATE tug_api)
  endforeach()
endfunction()
cmake_language(DEFER CALL _tug_codec_fuzz_targets)
