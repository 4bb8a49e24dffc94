#include "apiserver/rest/json_scan.h"

namespace tug::apiserver::rest {
namespace {

size_t SkipSpace(std::string_view t, size_t p) {
  while (p < t.size() && (t[p] == ' ' || t[p] == '\n' || t[p] == '\r' || t[p] == '\t')) ++p;
  return p;
}

// t[p] == '"'; returns one past the closing quote.
std::optional<size_t> SkipString(std::string_view t, size_t p) {
  ++p;
  while (p < t.size()) {
    char c = t[p];
    if (c == '"') return p + 1;
    if (c == '\\') {
      p += 2;
      continue;
    }
    if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
    ++p;
  }
  return std::nullopt;
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
    int depth = 0;
    while (p < t.size()) {
      char d = t[p];
      if (d == '"') {
        auto e = SkipString(t, p);
        if (!e) return std::nullopt;
        p = *e;
        continue;
      }
      if (d == '{' || d == '[') ++depth;
      else if (d == '}' || d == ']') {
        if (--depth == 0) return p + 1;
      }
      ++p;
    }
    return std::nullopt;
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
