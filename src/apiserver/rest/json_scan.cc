#include "apiserver/rest/json_scan.h"

#include <array>
#include <cstdint>

namespace tug::apiserver::rest {
namespace {

// Byte classes: the scans below step over runs of bytes that need no look with one table load
// per byte (these scans run over every object a write stores and every pod a binding edits).
enum : uint8_t { kPlain = 0, kQuote = 1, kEscape = 2, kControl = 3, kOpen = 4, kClose = 5 };

constexpr std::array<uint8_t, 256> StringClasses() {
  std::array<uint8_t, 256> c{};
  for (int i = 0; i < 0x20; ++i) c[i] = kControl;
  c['"'] = kQuote;
  c['\\'] = kEscape;
  return c;
}
constexpr std::array<uint8_t, 256> NestingClasses() {
  std::array<uint8_t, 256> c{};
  c['"'] = kQuote;
  c['{'] = c['['] = kOpen;
  c['}'] = c[']'] = kClose;
  return c;
}
constexpr std::array<uint8_t, 256> kStringClass = StringClasses();
constexpr std::array<uint8_t, 256> kNestingClass = NestingClasses();

size_t SkipSpace(std::string_view t, size_t p) {
  while (p < t.size() && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r' || t[p] == '\t')) ++p;
  return p;
}

// t[p] == '"'; returns one past the closing quote.
std::optional<size_t> SkipString(std::string_view t, size_t p) {
  const auto* b = reinterpret_cast<const unsigned char*>(t.data());
  const size_t n = t.size();
  ++p;
  while (true) {
    while (p < n && kStringClass[b[p]] == kPlain) ++p;
    if (p >= n) return std::nullopt;
    switch (kStringClass[b[p]]) {
      case kQuote: return p + 1;
      case kEscape: p += 2; break;
      default: return std::nullopt;  // a raw control character
    }
  }
}

}  // namespace

std::optional<size_t> SkipJsonValue(std::string_view t, size_t p) {
  p = SkipSpace(t, p);
  if (p >= t.size()) return std::nullopt;
  char c = t[p];
  if (c == '"') return SkipString(t, p);
  if (c == '{' || c == '[') {
    // Iterative: track nesting depth; strings are skipped whole so brackets inside them are
    // ignored.
    const auto* b = reinterpret_cast<const unsigned char*>(t.data());
    const size_t n = t.size();
    int depth = 0;
    while (true) {
      while (p < n && kNestingClass[b[p]] == kPlain) ++p;
      if (p >= n) return std::nullopt;
      switch (kNestingClass[b[p]]) {
        case kQuote: {
          auto e = SkipString(t, p);
          if (!e) return std::nullopt;
          p = *e;
          continue;
        }
        case kOpen: ++depth; break;
        default:  // kClose
          if (--depth == 0) return p + 1;
      }
      ++p;
    }
  }
  // number, true, false, null
  size_t s = p;
  while (p < t.size()) {
    char d = t[p];
    if (d == ',' || d == '}' || d == ']' || d == ' ' || d == '\n' || d == '\r' || d == '\t') break;
    ++p;
  }
  if (p == s) return std::nullopt;
  return p;
}

bool ForEachMember(std::string_view t, Span obj,
                   const std::function<bool(std::string_view raw_key, Span value)>& fn) {
  size_t p = SkipSpace(t, obj.begin);
  if (p >= t.size() || t[p] != '{') return false;
  p = SkipSpace(t, p + 1);
  if (p < t.size() && t[p] == '}') return true;
  while (p < t.size()) {
    if (t[p] != '"') return false;
    auto ke = SkipString(t, p);
    if (!ke) return false;
    std::string_view key = t.substr(p + 1, *ke - p - 2);
    p = SkipSpace(t, *ke);
    if (p >= t.size() || t[p] != ':') return false;
    size_t vb = SkipSpace(t, p + 1);
    auto ve = SkipJsonValue(t, vb);
    if (!ve) return false;
    if (!fn(key, Span{vb, *ve})) return true;
    p = SkipSpace(t, *ve);
    if (p < t.size() && t[p] == ',') {
      p = SkipSpace(t, p + 1);
      continue;
    }
    return p < t.size() && t[p] == '}';
  }
  return false;
}

bool ForEachElement(std::string_view t, Span arr, const std::function<bool(Span value)>& fn) {
  size_t p = SkipSpace(t, arr.begin);
  if (p >= t.size() || t[p] != '[') return false;
  p = SkipSpace(t, p + 1);
  if (p < t.size() && t[p] == ']') return true;
  while (p < t.size()) {
    auto ve = SkipJsonValue(t, p);
    if (!ve) return false;
    if (!fn(Span{p, *ve})) return true;
    p = SkipSpace(t, *ve);
    if (p < t.size() && t[p] == ',') {
      p = SkipSpace(t, p + 1);
      continue;
    }
    return p < t.size() && t[p] == ']';
  }
  return false;
}

}  // namespace tug::apiserver::rest
