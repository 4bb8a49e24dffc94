// libFuzzer target for FuzzJsonPatch (see fuzz_entry.h). Build with clang: the codec.cmake fragment
// adds it as fuzz_json_patch when the compiler is clang.
#include "api/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tug::api::fuzz::FuzzJsonPatch(data, size);
  return 0;
}
