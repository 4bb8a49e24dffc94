// Fuzz entry points shared by the libFuzzer targets (fuzz_*.cc, clang only) and by
// codec_fuzz_test (bounded, deterministic, runs under g++ in CI). Each takes arbitrary bytes
// and must never crash, hang or throw; results are ignored.
//
// Patch inputs are split at the first NUL (or in the middle when there is none) into a
// document and a patch, each parsed with DecodeJson.
// Thread-safety: the registry is built once (function-local static) and immutable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "api/codec.h"
#include "api/patch.h"

namespace tug::api::fuzz {

inline const Registry* FuzzRegistry() {
  static const std::shared_ptr<const Registry> reg = [] {
    auto r = Registry::Builtin();
    return r.ok() ? *r : nullptr;
  }();
  return reg.get();
}

inline std::string_view AsView(const uint8_t* data, size_t size) {
  return std::string_view(reinterpret_cast<const char*>(data), size);
}

inline void FuzzDecodeJson(const uint8_t* data, size_t size) {
  std::vector<std::string> dups;
  auto r = DecodeJson(AsView(data, size), &dups);
  if (r.ok()) (void)DumpJson(*r);
}

inline void FuzzYamlToJson(const uint8_t* data, size_t size) {
  auto r = YamlToJson(AsView(data, size));
  if (r.ok()) (void)DumpJson(*r);
}

inline void FuzzDecodeProtobuf(const uint8_t* data, size_t size) {
  const Registry* reg = FuzzRegistry();
  if (reg == nullptr) return;
  std::string body("k8s\0", 4);
  // Most inputs lack the magic; prepend it so the fuzzer explores the message decoder.
  std::string_view in = AsView(data, size);
  if (!IsProtobuf(in)) body.append(in);
  else body.assign(in);
  auto r = DecodeProtobuf(*reg, body);
  if (r.ok()) {
    (void)DumpJson(*r);
    auto enc = EncodeProtobuf(*reg, *r);
    if (enc.ok()) (void)DecodeProtobuf(*reg, *enc);
  }
}

inline bool SplitDocAndPatch(const uint8_t* data, size_t size, Json* doc, Json* patch) {
  std::string_view in = AsView(data, size);
  size_t cut = in.find('\0');
  std::string_view a = cut == std::string_view::npos ? in.substr(0, size / 2) : in.substr(0, cut);
  std::string_view b = cut == std::string_view::npos ? in.substr(size / 2) : in.substr(cut + 1);
  auto d = DecodeJson(a);
  auto p = DecodeJson(b);
  if (!d.ok() || !p.ok()) return false;
  *doc = std::move(*d);
  *patch = std::move(*p);
  return true;
}

inline void FuzzJsonPatch(const uint8_t* data, size_t size) {
  Json doc, patch;
  if (!SplitDocAndPatch(data, size, &doc, &patch)) return;
  auto r = ApplyJsonPatch(doc, patch);
  if (r.ok()) (void)DumpJson(*r);
}

inline void FuzzMergePatch(const uint8_t* data, size_t size) {
  Json doc, patch;
  if (!SplitDocAndPatch(data, size, &doc, &patch)) return;
  auto r = ApplyMergePatch(doc, patch);
  if (r.ok()) (void)DumpJson(*r);
}

inline void FuzzStrategicMergePatch(const uint8_t* data, size_t size) {
  Json doc, patch;
  if (!SplitDocAndPatch(data, size, &doc, &patch)) return;
  const TypeDef* type = nullptr;
  if (const Registry* reg = FuzzRegistry()) {
    // Alternate between the Deployment schema and no schema, chosen by the input.
    if (size % 2 == 0) type = reg->KindType("apps", "v1", "Deployment");
  }
  auto r = ApplyStrategicMergePatch(doc, patch, type);
  if (r.ok()) (void)DumpJson(*r);
}

}  // namespace tug::api::fuzz
