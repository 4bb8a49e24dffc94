// Label and field selectors as the list/watch query parameters carry them
// (`labelSelector=app=web,tier in (a,b),!old` and `fieldSelector=metadata.name=x`).
//
// Grammar and semantics follow upstream k8s.io/apimachinery labels.Parse and fields.Parse:
// label operators =, ==, !=, in, notin, exists (bare key), !key, gt, lt; field operators
// =, ==, !=. Parse errors are BadRequest Status values with upstream-like messages.
//
// Ownership: plain values. Thread-safety: immutable after parsing; Matches is const.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace tug::apiserver::rest {

using Labels = std::map<std::string, std::string, std::less<>>;

class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  struct Requirement {
    std::string key;
    Op op = Op::kEquals;
    std::vector<std::string> values;
  };

  // Empty text selects everything.
  static Result<LabelSelector> Parse(std::string_view text);
  bool Empty() const { return reqs_.empty(); }
  bool Matches(const Labels& labels) const;
  const std::vector<Requirement>& Requirements() const { return reqs_; }

 private:
  std::vector<Requirement> reqs_;
};

class FieldSelector {
 public:
  struct Term {
    std::string field;
    std::string value;
    bool negate = false;  // "!="
  };
  static Result<FieldSelector> Parse(std::string_view text);
  bool Empty() const { return terms_.empty(); }
  const std::vector<Term>& Terms() const { return terms_; }

 private:
  std::vector<Term> terms_;
};

// "app=web,tier=db" for a matchLabels-style map (sorted keys), as Scale.status.selector.
std::string FormatLabels(const Labels& labels);

}  // namespace tug::apiserver::rest
