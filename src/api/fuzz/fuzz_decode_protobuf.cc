// libFuzzer target for FuzzDecodeProtobuf (see fuzz_entry.h). Build with clang: the codec.cmake fragment
// adds it as fuzz_decode_protobuf when the compiler is clang.
#include "api/fuzz/fuzz_entry.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  tug::api::fuzz::FuzzDecodeProtobuf(data, size);
  return 0;
}
