// libFuzzer target for FuzzStrategicMergePatch (see fuzz_entry.h). Build with clang: the codec.cmake fragment
// adds it as fuzz_strategic_merge_patch when the compiler is clang.
#include "api/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tug::api::fuzz::FuzzStrategicMergePatch(data, size);
  return 0;
}
