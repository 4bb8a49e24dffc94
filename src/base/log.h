// Structured, levelled logging (CONVENTIONS C13).
//
//   TUG_LOG(INFO, "apiserver") << "listening" << kv("addr", addr) << kv("port", port);
//   -> I1125 18:20:01.123456 apiserver] listening addr=0.0.0.0 port=6443
//   TUG_VLOG(4, "store") << "commit" << kv("batch", n);
//
// Verbosity: V0 always, V2 state changes (default), V4 debug, V5+ wire tracing.
// Lines are written to stderr whole (one write per line), so threads never interleave.
// Thread-safe.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace tug::log {

enum class Severity { INFO, WARNING, ERROR, FATAL };

// Process-wide verbosity threshold (set once from flags at start-up).
void SetVerbosity(int v);
int Verbosity();

template <typename T>
struct KV {
  std::string_view key;
  const T& value;
};
template <typename T>
KV<T> kv(std::string_view key, const T& value) { return KV<T>{key, value}; }

class Line {
 public:
  Line(Severity sev, std::string_view component);
  ~Line();  // writes the line; FATAL aborts after writing
  Line(const Line&) = delete;
  Line& operator=(const Line&) = delete;

  template <typename T>
  Line& operator<<(const KV<T>& f) {
    os_ << ' ' << f.key << '=';
    std::ostringstream tmp;
    tmp << f.value;
    AppendValue(tmp.str());
    return *this;
  }
  template <typename T>
  Line& operator<<(const T& v) {
    os_ << v;
    return *this;
  }

 private:
  void AppendValue(const std::string& v);  // quotes values containing spaces or quotes
  Severity sev_;
  std::ostringstream os_;
};

}  // namespace tug::log

#define TUG_LOG(sev, component) ::tug::log::Line(::tug::log::Severity::sev, component)
#define TUG_VLOG(level, component)                          \
  if (::tug::log::Verbosity() < (level)) {                  \
  } else                                                    \
    ::tug::log::Line(::tug::log::Severity::INFO, component)

using tug::log::kv;
