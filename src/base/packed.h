// Packed — an immutable byte string held compressed (zstd), and the dictionaries that make
// small similar values compress well.
//
// The API server holds the current JSON of every object in memory (the store's current state
// and the watch caches share one copy). At 30,000 pods that was 30,000 × 4.4 KB of pod JSON,
// most of it the same bytes in every pod: field names, the service-account volume, default
// tolerations, managedFields. Compressed against a dictionary made of a few earlier pods, a pod
// takes a fraction of that, and is decompressed (a few microseconds) when it is served.
//
// A Packer learns one dictionary from the first values it packs (the first few values of at
// least kMinDictSample bytes, concatenated: zstd's "raw content" dictionary, no training), and
// packs with it from then on. Values packed before (or small ones) keep working: each Packed
// names the dictionary it needs.
//
// Ownership: a Packed shares its dictionary (shared_ptr), so it stays readable after the Packer
// that made it is gone.
// Thread-safety: Packed is immutable (any thread may read it); Packer::Pack may be called from
// any thread (compression contexts are per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace tug {

class PackDictionary;
using PackDictionaryPtr = std::shared_ptr<const PackDictionary>;

class Packed {
 public:
  // Values shorter than this are kept as they are (a zstd frame would not be smaller).
  static constexpr size_t kMinCompressed = 96;

  Packed() = default;
  // Compresses `bytes`, against `dict` when given.
  static Packed Pack(std::string_view bytes, const PackDictionaryPtr& dict = nullptr);
  // Holds `bytes` uncompressed (no copy).
  static Packed Raw(std::string bytes);

  size_t size() const { return size_; }        // the value's length
  size_t stored_size() const { return data_.size(); }  // what is held (without the dictionary)
  bool compressed() const { return compressed_; }
  bool empty() const { return size_ == 0; }

  // The value: borrowed when held uncompressed, else decompressed into *buf.
  std::string_view View(std::string* buf) const;
  std::string Unpack() const;
  void AppendTo(std::string* out) const;

 private:
  std::string data_;
  PackDictionaryPtr dict_;
  uint32_t size_ = 0;
  bool compressed_ = false;
};

class PackDictionary {
 public:
  // Compression level for every Pack (zstd's fastest levels compress similar JSON almost as
  // well as the higher ones at a fraction of the time).
  static constexpr int kLevel = 1;
  explicit PackDictionary(std::string content);
  ~PackDictionary();
  PackDictionary(const PackDictionary&) = delete;
  PackDictionary& operator=(const PackDictionary&) = delete;

  const std::string& content() const { return content_; }

 private:
  friend class Packed;
  std::string content_;
  void* cdict_ = nullptr;  // ZSTD_CDict*
  void* ddict_ = nullptr;  // ZSTD_DDict*
};

class Packer {
 public:
  // Values of at least this many bytes are samples for the dictionary.
  static constexpr size_t kMinDictSample = 512;
  // The dictionary is made from this many samples, or sooner when they reach kMaxDictBytes.
  static constexpr size_t kDictSamples = 8;
  static constexpr size_t kMaxDictBytes = 48 * 1024;

  Packed Pack(std::string_view bytes);
  // The learnt dictionary, or null while it is being learnt.
  PackDictionaryPtr dictionary() const;

 private:
  mutable std::mutex mu_;
  PackDictionaryPtr dict_;            // GUARDED_BY(mu_)
  std::vector<std::string> samples_;  // GUARDED_BY(mu_)
  size_t sample_bytes_ = 0;           // GUARDED_BY(mu_)
};

}  // namespace tug
