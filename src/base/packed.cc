#include "base/packed.h"

#include <zstd.h>

#include <algorithm>
#include <stdexcept>

namespace tug {

namespace {

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* c) const { ZSTD_freeDCtx(c); }
};

// Frames without the dictionary id or the content size (the Packed keeps its size and its
// dictionary): 5 bytes less per value than zstd's defaults. (Frames without the magic number
// would need zstd's experimental API.)
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> c;
  if (!c) {
    c.reset(ZSTD_createCCtx());
    if (!c) throw std::bad_alloc();
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_contentSizeFlag, 0);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_dictIDFlag, 0);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(c.get(), ZSTD_c_compressionLevel, PackDictionary::kLevel);
  }
  return c.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> d;
  if (!d) {
    d.reset(ZSTD_createDCtx());
    if (!d) throw std::bad_alloc();
  }
  return d.get();
}

}  // namespace

PackDictionary::PackDictionary(std::string content) : content_(std::move(content)) {
  cdict_ = ZSTD_createCDict(content_.data(), content_.size(), kLevel);
  ddict_ = ZSTD_createDDict(content_.data(), content_.size());
  if (!cdict_ || !ddict_) {
    ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
    ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
    throw std::bad_alloc();
  }
}

PackDictionary::~PackDictionary() {
  ZSTD_freeCDict(static_cast<ZSTD_CDict*>(cdict_));
  ZSTD_freeDDict(static_cast<ZSTD_DDict*>(ddict_));
}

Packed Packed::Pack(std::string_view bytes, const PackDictionaryPtr& dict) {
  if (bytes.size() >= UINT32_MAX) throw std::length_error("value too large to pack");
  Packed p;
  p.size_ = static_cast<uint32_t>(bytes.size());
  if (bytes.size() >= kMinCompressed) {
    ZSTD_CCtx* c = ThreadCCtx();
    thread_local std::string out;  // the frame is copied out at its size (no slack kept)
    out.resize(ZSTD_compressBound(bytes.size()));
    ZSTD_CCtx_reset(c, ZSTD_reset_session_only);
    ZSTD_CCtx_refCDict(c, dict ? static_cast<const ZSTD_CDict*>(dict->cdict_) : nullptr);
    size_t n = ZSTD_compress2(c, out.data(), out.size(), bytes.data(), bytes.size());
    ZSTD_CCtx_refCDict(c, nullptr);
    if (!ZSTD_isError(n) && n < bytes.size()) {
      p.data_.assign(out.data(), n);
      p.compressed_ = true;
      p.dict_ = dict;
      return p;
    }
  }
  p.data_.assign(bytes);
  return p;
}

Packed Packed::Raw(std::string bytes) {
  Packed p;
  if (bytes.size() >= UINT32_MAX) throw std::length_error("value too large to pack");
  p.size_ = static_cast<uint32_t>(bytes.size());
  p.data_ = std::move(bytes);
  return p;
}

std::string_view Packed::View(std::string* buf) const {
  if (!compressed_) return data_;
  buf->clear();
  AppendTo(buf);
  return *buf;
}

std::string Packed::Unpack() const {
  std::string s;
  AppendTo(&s);
  return s;
}

void Packed::AppendTo(std::string* out) const {
  if (!compressed_) {
    out->append(data_);
    return;
  }
  size_t at = out->size();
  out->resize(at + size_);
  ZSTD_DCtx* d = ThreadDCtx();
  ZSTD_DCtx_reset(d, ZSTD_reset_session_only);
  ZSTD_DCtx_refDDict(d, dict_ ? static_cast<const ZSTD_DDict*>(dict_->ddict_) : nullptr);
  size_t n = ZSTD_decompressDCtx(d, out->data() + at, size_, data_.data(), data_.size());
  ZSTD_DCtx_refDDict(d, nullptr);
  // Our own frames, made in this process: anything else is memory corruption.
  if (ZSTD_isError(n) || n != size_) throw std::logic_error("packed value does not decompress");
}

Packed Packer::Pack(std::string_view bytes) {
  PackDictionaryPtr dict;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (!dict_ && bytes.size() >= kMinDictSample) {
      samples_.emplace_back(bytes);
      sample_bytes_ += bytes.size();
      if (samples_.size() >= kDictSamples || sample_bytes_ >= kMaxDictBytes) {
        std::string content;
        content.reserve(std::min(sample_bytes_, kMaxDictBytes));
        for (const auto& s : samples_) {
          if (content.size() + s.size() > kMaxDictBytes) break;
          content += s;
        }
        if (content.empty()) content = samples_.front().substr(0, kMaxDictBytes);
        dict_ = std::make_shared<const PackDictionary>(std::move(content));
        samples_ = {};
        sample_bytes_ = 0;
      }
    }
    dict = dict_;
  }
  return Packed::Pack(bytes, dict);
}

PackDictionaryPtr Packer::dictionary() const {
  std::lock_guard<std::mutex> l(mu_);
  return dict_;
}

}  // namespace tug
