#include "api/quantity.h"

#include <cmath>
#include <limits>

namespace tug::api {
namespace {

using U128 = unsigned __int128;
constexpr U128 kU128Max = ~U128(0);
constexpr int kMaxDigits = 36;  // fits U128 with room to scale by 10^2

const char kSyntax[] =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

// a * b, empty on overflow.
std::optional<U128> Mul(U128 a, U128 b) {
  U128 r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

std::optional<U128> Pow10(int e) {
  U128 r = 1;
  for (int i = 0; i < e; ++i) {
    auto n = Mul(r, 10);
    if (!n) return std::nullopt;
    r = *n;
  }
  return r;
}

struct Suffix {
  std::string_view name;
  int exp10;
  int exp2;
};
constexpr Suffix kSuffixes[] = {
    {"", 0, 0},   {"n", -9, 0}, {"u", -6, 0},  {"m", -3, 0},  {"k", 3, 0},   {"M", 6, 0},
    {"G", 9, 0},  {"T", 12, 0}, {"P", 15, 0},  {"E", 18, 0},  {"Ki", 0, 10}, {"Mi", 0, 20},
    {"Gi", 0, 30}, {"Ti", 0, 40}, {"Pi", 0, 50}, {"Ei", 0, 60}};

}  // namespace

Result<Quantity> ParseQuantity(std::string_view s) {
  Quantity q;
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) q.negative_ = s[i++] == '-';
  int digits = 0, significant = 0, frac = 0;
  bool dot = false, rounded = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c == '.') {
      if (dot) return InvalidError(kSyntax);
      dot = true;
      continue;
    }
    if (c < '0' || c > '9') break;
    ++digits;
    if (dot) ++frac;
    if (q.mantissa_ == 0 && c == '0') continue;  // leading zeros carry no precision
    if (significant == kMaxDigits) {
      // Past 36 significant digits: a fraction digit is dropped (a positive value rounds up,
      // which keeps ScaledValue's ceiling), an integer digit scales the exponent.
      if (dot) {
        if (c != '0' && !q.negative_ && !rounded) {
          q.mantissa_ += 1;
          rounded = true;
        }
        --frac;
      } else {
        ++q.exp10_;
      }
      continue;
    }
    ++significant;
    q.mantissa_ = q.mantissa_ * 10 + static_cast<unsigned>(c - '0');
  }
  if (digits == 0) return InvalidError(kSyntax);
  q.exp10_ -= frac;
  std::string_view suffix = s.substr(i);
  const Suffix* found = nullptr;
  for (const Suffix& c : kSuffixes)
    if (c.name == suffix) found = &c;
  if (found) {
    q.exp10_ += found->exp10;
    q.exp2_ = found->exp2;
  } else if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string_view ex = suffix.substr(1);
    bool neg = false;
    if (!ex.empty() && (ex[0] == '+' || ex[0] == '-')) {
      neg = ex[0] == '-';
      ex.remove_prefix(1);
    }
    if (ex.empty() || ex.size() > 4) return InvalidError("unable to parse quantity's suffix");
    int e = 0;
    for (char c : ex) {
      if (c < '0' || c > '9') return InvalidError("unable to parse quantity's suffix");
      e = e * 10 + (c - '0');
    }
    q.exp10_ += neg ? -e : e;
  } else {
    // Characters the grammar allows in a suffix make a bad suffix; anything else is bad syntax.
    for (char c : suffix)
      if (std::string_view("eEinumkKMGTP+-0123456789").find(c) == std::string_view::npos)
        return InvalidError(kSyntax);
    return InvalidError("unable to parse quantity's suffix");
  }
  if (q.mantissa_ == 0) q = Quantity();  // -0 and 0e5 are zero
  return q;
}

Result<Quantity> ParseQuantityJson(const Json& v) {
  if (v.is_string()) return ParseQuantity(v.get_ref<const std::string&>());
  if (v.is_number_integer()) return ParseQuantity(std::to_string(v.get<int64_t>()));
  if (v.is_number()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v.get<double>());
    return ParseQuantity(std::string_view(buf));
  }
  return InvalidError(kSyntax);
}

std::optional<__int128> Quantity::Scaled128(int scale) const {
  if (mantissa_ == 0) return 0;
  // value / 10^scale = mantissa × 2^exp2 × 10^e
  int e = exp10_ - scale;
  U128 num = mantissa_;
  if (exp2_ > 0) {
    auto n = Mul(num, U128(1) << exp2_);
    if (!n) return std::nullopt;
    num = *n;
  }
  U128 mag;
  bool inexact = false;
  if (e >= 0) {
    auto p = Pow10(e);
    if (!p) return std::nullopt;
    auto n = Mul(num, *p);
    if (!n) return std::nullopt;
    mag = *n;
  } else {
    auto den = Pow10(-e);
    if (!den) {  // divisor beyond 10^38: the magnitude is below 1
      mag = 0;
      inexact = true;
    } else {
      mag = num / *den;
      inexact = num % *den != 0;
    }
  }
  // Round toward +∞: positive values with a remainder go up; negative ones truncate.
  if (!negative_ && inexact) {
    if (mag == kU128Max) return std::nullopt;
    ++mag;
  }
  constexpr U128 kMax = static_cast<U128>(std::numeric_limits<__int128>::max());
  if (mag > kMax) return std::nullopt;
  __int128 v = static_cast<__int128>(mag);
  return negative_ ? -v : v;
}

std::optional<int64_t> Quantity::Scaled(int scale) const {
  auto v = Scaled128(scale);
  if (!v || *v > std::numeric_limits<int64_t>::max() || *v < std::numeric_limits<int64_t>::min())
    return std::nullopt;
  return static_cast<int64_t>(*v);
}

long double Quantity::ToLongDouble() const {
  long double v = std::ldexp(static_cast<long double>(mantissa_), exp2_);
  // Multiplying by an exact power of ten keeps "1000m" == "1"; a divide avoids the rounding of
  // a negative power of ten.
  if (exp10_ >= 0) v *= std::pow(10.0L, exp10_);
  else v /= std::pow(10.0L, -exp10_);
  return negative_ ? -v : v;
}

std::optional<int64_t> ParseScaled(std::string_view text, int scale) {
  auto q = ParseQuantity(text);
  if (!q.ok()) return std::nullopt;
  return q->Scaled(scale);
}

std::optional<int64_t> ParseScaledJson(const Json& value, int scale) {
  auto q = ParseQuantityJson(value);
  if (!q.ok()) return std::nullopt;
  return q->Scaled(scale);
}

}  // namespace tug::api
