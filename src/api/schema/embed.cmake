# Build-time step: wraps kube.json into a C++ source file as one raw string literal, so the
# schema is compiled into the binary without a HEX dump or a runtime file read.
# Usage: cmake -DIN=<kube.json> -DOUT=<file.cc> -P embed.cmake
file(READ "${IN}" content)
string(FIND "${content}" ")tugschema\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "kube.json contains the raw-string delimiter")
endif()
file(WRITE "${OUT}.tmp"
"// Generated from src/api/schema/kube.json by src/api/schema/embed.cmake. Do not edit.
#include <string_view>
namespace tug::api::internal {
extern const char kKubeSchemaJson[];
extern const unsigned long kKubeSchemaJsonSize;
const char kKubeSchemaJson[] = R\"tugschema(${content})tugschema\";
const unsigned long kKubeSchemaJsonSize = sizeof(kKubeSchemaJson) - 1;
}  // namespace tug::api::internal
")
file(RENAME "${OUT}.tmp" "${OUT}")
