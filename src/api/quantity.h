// Resource quantities (upstream's resource.Quantity) parsed once, exactly, for every component:
// API validation, Table printers, the scheduler, the node agent, the HPA controller and the
// agent's flags all read "500m", "1.5Gi", "2e3" through this parser.
//
// The grammar is upstream's:
//   quantity     ::= [+-] number suffix
//   number       ::= digits | digits "." digits? | "." digits
//   suffix       ::= "" | "n" | "u" | "m" | "k" | "M" | "G" | "T" | "P" | "E"     (decimal SI)
//                  | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"                    (binary SI)
//                  | ("e" | "E") [+-] digits                                     (decimal exponent)
// A parsed value is kept exactly as mantissa × 10^exp10 × 2^exp2, so "1000m" and "1" are the
// same value and scaling rounds the way upstream's ScaledValue does (up, toward +∞).
//
// Thread-safety: value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"

namespace tug::api {

class Quantity {
 public:
  Quantity() = default;  // zero

  // ceil(value / 10^scale): scale 0 is Value(), -3 is MilliValue(), -9 nano-units. Empty when
  // the result does not fit in 127 bits.
  std::optional<__int128> Scaled128(int scale) const;
  // As Scaled128, empty when the result does not fit in int64 (upstream's ScaledValue).
  std::optional<int64_t> Scaled(int scale) const;
  std::optional<int64_t> Value() const { return Scaled(0); }
  std::optional<int64_t> MilliValue() const { return Scaled(-3); }
  // The value as a long double (for comparisons and ratios; exact for every quantity users
  // write, rounded only past 64 significant bits).
  long double ToLongDouble() const;
  bool negative() const { return negative_; }
  bool IsZero() const { return mantissa_ == 0; }

 private:
  friend Result<Quantity> ParseQuantity(std::string_view text);
  bool negative_ = false;
  unsigned __int128 mantissa_ = 0;  // the digits, without the decimal point
  int exp10_ = 0;                   // includes the fraction digits (as a negative exponent)
  int exp2_ = 0;                    // binary SI suffixes
};

// Parses a quantity string. Errors (InvalidError) carry upstream's messages: "quantities must
// match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'" for bad syntax,
// "unable to parse quantity's suffix" for an unknown suffix.
Result<Quantity> ParseQuantity(std::string_view text);
// A JSON quantity: a string as above, or a number (what a YAML `cpu: 2` decodes to).
Result<Quantity> ParseQuantityJson(const Json& value);

// The scaled value of a quantity text, or empty when it does not parse or does not fit.
std::optional<int64_t> ParseScaled(std::string_view text, int scale);
std::optional<int64_t> ParseScaledJson(const Json& value, int scale);

}  // namespace tug::api
