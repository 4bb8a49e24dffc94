// Helpers for the codecs: field lookup, Go type names, RFC 3339 and Go durations, base64,
// UTF-8 sanitizing. See codec_internal.h.
#include <cmath>
#include <cstdio>
#include <limits>

#include "api/codec_internal.h"

namespace tug::api::codec_internal {

namespace {
const FieldDef* FieldNamedDepth(const TypeDef& t, std::string_view name, int depth) {
  for (const auto& f : t.fields) {
    if (!f.inlined && f.name == name) return &f;
  }
  if (depth > 8) return nullptr;  // inline chains are one or two levels deep upstream
  for (const auto& f : t.fields) {
    if (f.inlined && f.type != nullptr) {
      if (const FieldDef* inner = FieldNamedDepth(*f.type, name, depth + 1)) return inner;
    }
  }
  return nullptr;
}
}  // namespace

const FieldDef* FieldNamed(const TypeDef& t, std::string_view name) { return FieldNamedDepth(t, name, 0); }

const FieldDef* FieldTagged(const TypeDef& t, int tag) {
  if (tag <= 0) return nullptr;
  for (const auto& f : t.fields) {
    if (f.proto_tag == tag) return &f;
  }
  return nullptr;
}

std::string GoTypeName(const TypeDef& t) {
  std::string_view n = t.name;
  size_t last = n.rfind('.');
  if (last == std::string_view::npos) return std::string(n);
  size_t prev = n.rfind('.', last - 1);
  if (last == 0 || prev == std::string_view::npos) return std::string(n);
  return std::string(n.substr(prev + 1));
}

namespace {
std::string ScalarGoName(const FieldDef& f) {
  switch (f.kind) {
    case Kind::kString: return "string";
    case Kind::kBytes: return "[]uint8";
    case Kind::kBool: return "bool";
    case Kind::kInt32: return "int32";
    case Kind::kInt64: return "int64";
    case Kind::kDouble: return "float64";
    case Kind::kObject: return f.type ? GoTypeName(*f.type) : "struct";
    case Kind::kIntOrString: return "intstr.IntOrString";
    case Kind::kQuantity: return "resource.Quantity";
    case Kind::kTime: return "v1.Time";
    case Kind::kMicroTime: return "v1.MicroTime";
    case Kind::kDuration: return "v1.Duration";
    case Kind::kRawExtension: return "runtime.RawExtension";
    case Kind::kJSON: return "v1.JSON";
  }
  return "unknown";
}
}  // namespace

std::string GoFieldTypeName(const FieldDef& f) {
  switch (f.container) {
    case Container::kList: return "[]" + ScalarGoName(f);
    case Container::kMap: return "map[string]" + ScalarGoName(f);
    case Container::kNone: break;
  }
  return ScalarGoName(f);
}

// Days since 1970-01-01 <-> civil date (proleptic Gregorian).
namespace {
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}

// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range Go's Time.MarshalJSON accepts.
constexpr int64_t kMinSeconds = -62167219200LL;
constexpr int64_t kMaxSeconds = 253402300799LL;
}  // namespace

Result<std::string> FormatRfc3339(int64_t seconds, int64_t nanos, bool micro) {
  if (micro) {
    // Normalize nanos into [0, 1e9).
    if (nanos < 0 || nanos >= 1000000000) {
      int64_t carry = nanos / 1000000000;
      nanos %= 1000000000;
      if (nanos < 0) {
        nanos += 1000000000;
        carry -= 1;
      }
      if ((carry > 0 && seconds > kMaxSeconds) || (carry < 0 && seconds < kMinSeconds)) {
        return BadRequestError("time out of range");
      }
      seconds += carry;
    }
  }
  if (seconds < kMinSeconds || seconds > kMaxSeconds) {
    return BadRequestError("Time.MarshalJSON: year outside of range [0,9999]");
  }
  int64_t days = seconds / 86400;
  int64_t rem = seconds % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[64];
  int hh = static_cast<int>(rem / 3600), mm = static_cast<int>(rem / 60 % 60), ss = static_cast<int>(rem % 60);
  if (micro) {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06dZ", static_cast<int>(y), m, d, hh, mm, ss,
                  static_cast<int>(nanos / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(y), m, d, hh, mm, ss);
  }
  return std::string(buf);
}

namespace {
bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}
}  // namespace

Result<ParsedTime> ParseRfc3339(std::string_view s) {
  auto bad = [&]() {
    return BadRequestError("parsing time \"" + SanitizeUtf8(s) + "\" as \"2006-01-02T15:04:05Z07:00\": cannot parse");
  };
  int y, mo, d, h, mi, se;
  if (!Digits(s, 0, 4, &y) || s.size() < 20 || s[4] != '-' || !Digits(s, 5, 2, &mo) || s[7] != '-' ||
      !Digits(s, 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || !Digits(s, 11, 2, &h) || s[13] != ':' ||
      !Digits(s, 14, 2, &mi) || s[16] != ':' || !Digits(s, 17, 2, &se)) {
    return bad();
  }
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > kMonthDays[mo - 1] || (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 ||
      se > 59) {
    return bad();
  }
  size_t pos = 19;
  int64_t nanos = 0;
  if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
    ++pos;
    size_t start = pos;
    int64_t scale = 100000000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (pos - start < 9) {
        nanos += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
    }
    if (pos == start) return bad();
  }
  int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!Digits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !Digits(s, pos + 4, 2, &om) ||
        oh > 23 || om > 59) {
      return bad();
    }
    offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return bad();
  }
  if (pos != s.size()) return bad();
  ParsedTime t;
  t.seconds = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) * 86400 + h * 3600 + mi * 60 +
              se - offset;
  t.nanos = nanos;
  return t;
}

namespace {
// Appends v / 10^prec with trailing zeros of the fraction dropped; returns v / 10^prec.
uint64_t FmtFrac(std::string& out, uint64_t v, int prec) {
  std::string frac;
  bool print = false;
  for (int i = 0; i < prec; ++i) {
    int digit = static_cast<int>(v % 10);
    print = print || digit != 0;
    if (print) frac.insert(frac.begin(), static_cast<char>('0' + digit));
    v /= 10;
  }
  if (print) out = "." + frac + out;
  return v;
}
}  // namespace

std::string FormatGoDuration(int64_t ns) {
  if (ns == 0) return "0s";
  bool neg = ns < 0;
  uint64_t u = neg ? (~static_cast<uint64_t>(ns) + 1) : static_cast<uint64_t>(ns);
  std::string tail;  // built right to left
  if (u < 1000000000ULL) {
    std::string unit;
    int prec;
    if (u < 1000ULL) {
      return (neg ? "-" : "") + std::to_string(u) + "ns";
    } else if (u < 1000000ULL) {
      prec = 3;
      unit = "\xC2\xB5s";
    } else {
      prec = 6;
      unit = "ms";
    }
    std::string frac;
    u = FmtFrac(frac, u, prec);
    return (neg ? "-" : "") + std::to_string(u) + frac + unit;
  }
  std::string frac;
  u = FmtFrac(frac, u, 9);
  std::string out = std::to_string(u % 60) + frac + "s";
  u /= 60;
  if (u > 0) {
    out = std::to_string(u % 60) + "m" + out;
    u /= 60;
    if (u > 0) out = std::to_string(u) + "h" + out;
  }
  return (neg ? "-" : "") + out;
}

Result<int64_t> ParseGoDuration(std::string_view s) {
  std::string orig(s);
  auto bad = [&]() { return BadRequestError("time: invalid duration \"" + SanitizeUtf8(orig) + "\""); };
  bool neg = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    neg = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return int64_t{0};
  if (s.empty()) return bad();
  long double total = 0;
  while (!s.empty()) {
    size_t i = 0;
    long double v = 0;
    bool any = false;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      v = v * 10 + (s[i] - '0');
      ++i;
      any = true;
      if (v > 1e30L) return bad();
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      long double scale = 0.1L;
      while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
        v += (s[i] - '0') * scale;
        scale /= 10;
        ++i;
        any = true;
      }
    }
    if (!any) return bad();
    size_t u = i;
    while (u < s.size() && !(s[u] >= '0' && s[u] <= '9') && s[u] != '.') ++u;
    std::string_view unit = s.substr(i, u - i);
    long double mult;
    if (unit == "ns") mult = 1;
    else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") mult = 1e3L;
    else if (unit == "ms") mult = 1e6L;
    else if (unit == "s") mult = 1e9L;
    else if (unit == "m") mult = 60e9L;
    else if (unit == "h") mult = 3600e9L;
    else if (unit.empty()) return BadRequestError("time: missing unit in duration \"" + SanitizeUtf8(orig) + "\"");
    else return BadRequestError("time: unknown unit \"" + SanitizeUtf8(unit) + "\" in duration \"" + SanitizeUtf8(orig) + "\"");
    total += v * mult;
    if (total > 9223372036854775807.0L) return bad();
    s.remove_prefix(u);
  }
  int64_t r = static_cast<int64_t>(total);
  return neg ? -r : r;
}

bool IsQuantitySyntax(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  size_t start = i;
  bool digit = false;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) {
    digit = digit || s[i] != '.';
    ++i;
  }
  if (i == start || !digit) return false;
  while (i < s.size() && std::string_view("eEinumkKMGTP").find(s[i]) != std::string_view::npos) ++i;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
  return i == s.size();
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
}

std::string Base64Encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += kB64[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[v >> 18];
    out += kB64[(v >> 12) & 63];
    out += kB64[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view in) {
  // Go's encoding/json decodes []byte with StdEncoding; it also ignores \r and \n.
  std::string clean;
  clean.reserve(in.size());
  for (char c : in) {
    if (c != '\r' && c != '\n') clean += c;
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (size_t i = 0; i < clean.size(); i += 4) {
    uint32_t v = 0;
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = clean[i + k];
      int x;
      if (c >= 'A' && c <= 'Z') x = c - 'A';
      else if (c >= 'a' && c <= 'z') x = c - 'a' + 26;
      else if (c >= '0' && c <= '9') x = c - '0' + 52;
      else if (c == '+') x = 62;
      else if (c == '/') x = 63;
      else if (c == '=' && i + 4 == clean.size() && k >= 2) {
        x = 0;
        ++pad;
      } else {
        return std::nullopt;
      }
      if (pad > 0 && c != '=') return std::nullopt;
      v = (v << 6) | static_cast<uint32_t>(x);
    }
    out += static_cast<char>((v >> 16) & 0xff);
    if (pad < 2) out += static_cast<char>((v >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(v & 0xff);
  }
  return out;
}

std::string SanitizeUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    }
    bool ok = n > 0 && i + n <= in.size();
    for (size_t k = 1; ok && k < n; ++k) {
      unsigned char cc = static_cast<unsigned char>(in[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (ok) {
      // Reject overlong forms, surrogates and values past U+10FFFF.
      if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
          (cp >= 0xD800 && cp <= 0xDFFF)) {
        ok = false;
      }
    }
    if (ok) {
      out.append(in.substr(i, n));
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

Json ZeroValue(const FieldDef& f) {
  switch (f.kind) {
    case Kind::kString:
    case Kind::kBytes: return "";
    case Kind::kBool: return false;
    case Kind::kInt32:
    case Kind::kInt64:
    case Kind::kDouble:
    case Kind::kIntOrString: return 0;
    case Kind::kQuantity: return "0";
    case Kind::kObject: return f.type != nullptr && f.type->list_wrapper ? Json::array() : Json::object();
    default: return nullptr;
  }
}

}  // namespace tug::api::codec_internal
