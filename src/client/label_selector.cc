// LabelSelector: the label-selector text syntax and metav1.LabelSelector documents.
#include <cctype>
#include <cstdlib>

#include "client/informer.h"

namespace tug::client {

namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters that end a key or value token.
bool IsSpecial(char c) { return c == ',' || c == '=' || c == '!' || c == '(' || c == ')' || c == '<' || c == '>'; }

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}
  void SkipSpace() {
    while (i_ < s_.size() && IsSpace(s_[i_])) ++i_;
  }
  bool AtEnd() {
    SkipSpace();
    return i_ >= s_.size();
  }
  char Peek() {
    SkipSpace();
    return i_ < s_.size() ? s_[i_] : '\0';
  }
  bool Consume(std::string_view tok) {
    SkipSpace();
    if (s_.substr(i_, tok.size()) == tok) {
      i_ += tok.size();
      return true;
    }
    return false;
  }
  // A key or value: runs until whitespace or a special character.
  std::string Word() {
    SkipSpace();
    size_t b = i_;
    while (i_ < s_.size() && !IsSpace(s_[i_]) && !IsSpecial(s_[i_])) ++i_;
    return std::string(s_.substr(b, i_ - b));
  }
  size_t pos() const { return i_; }

 private:
  std::string_view s_;
  size_t i_ = 0;
};

Status SyntaxError(std::string_view text, std::string_view what) {
  return BadRequestError("unable to parse requirement: " + std::string(what) + " in label selector \"" +
                         std::string(text) + "\"");
}

bool ParseInt64(const std::string& s, long long* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  *out = v;
  return true;
}

const std::string* LabelValue(const Json* labels, const std::string& key) {
  if (!labels || !labels->is_object()) return nullptr;
  auto it = labels->find(key);
  if (it == labels->end() || !it->is_string()) return nullptr;
  return it->get_ptr<const std::string*>();
}

}  // namespace

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  Lexer lx(text);
  if (lx.AtEnd()) return sel;
  while (true) {
    Req r;
    if (lx.Consume("!")) {
      r.key = lx.Word();
      if (r.key.empty()) return SyntaxError(text, "missing key after '!'");
      r.op = Req::kNotExists;
    } else {
      r.key = lx.Word();
      if (r.key.empty()) return SyntaxError(text, "missing key");
      if (lx.AtEnd() || lx.Peek() == ',') {
        r.op = Req::kExists;
      } else if (lx.Consume("==") || lx.Consume("=")) {
        r.op = Req::kEq;
        r.values.push_back(lx.Word());
      } else if (lx.Consume("!=")) {
        r.op = Req::kNotEq;
        r.values.push_back(lx.Word());
      } else if (lx.Consume(">") || lx.Consume("<")) {
        r.op = text[lx.pos() - 1] == '>' ? Req::kGt : Req::kLt;
        std::string v = lx.Word();
        long long n;
        if (!ParseInt64(v, &n)) return SyntaxError(text, "for 'gt', 'lt' operators, the value must be an integer");
        r.values.push_back(v);
      } else {
        std::string op = lx.Word();
        if (op == "in") r.op = Req::kIn;
        else if (op == "notin") r.op = Req::kNotIn;
        else return SyntaxError(text, "unknown operator \"" + op + "\"");
        if (!lx.Consume("(")) return SyntaxError(text, "expected '('");
        while (true) {
          std::string v = lx.Word();
          r.values.push_back(v);
          if (lx.Consume(")")) break;
          if (!lx.Consume(",")) return SyntaxError(text, "expected ',' or ')'");
        }
      }
    }
    sel.reqs_.push_back(std::move(r));
    if (lx.AtEnd()) break;
    if (!lx.Consume(",")) return SyntaxError(text, "expected ','");
    if (lx.AtEnd()) return SyntaxError(text, "trailing ','");
  }
  return sel;
}

Result<LabelSelector> LabelSelector::FromJson(const Json* selector, bool null_matches_all) {
  LabelSelector sel;
  if (!selector || selector->is_null()) {
    sel.nothing_ = !null_matches_all;
    return sel;
  }
  if (!selector->is_object()) return BadRequestError("label selector must be an object");
  if (const Json* ml = Find(*selector, "matchLabels"); ml && ml->is_object()) {
    for (auto it = ml->begin(); it != ml->end(); ++it) {
      if (!it.value().is_string()) return BadRequestError("matchLabels values must be strings");
      sel.reqs_.push_back({it.key(), Req::kEq, {it.value().get<std::string>()}});
    }
  }
  if (const Json* me = Find(*selector, "matchExpressions"); me && me->is_array()) {
    for (const Json& e : *me) {
      Req r;
      r.key = GetString(e, "key");
      std::string op = GetString(e, "operator");
      if (const Json* vs = Find(e, "values"); vs && vs->is_array())
        for (const Json& v : *vs)
          if (v.is_string()) r.values.push_back(v.get<std::string>());
      if (op == "In") r.op = Req::kIn;
      else if (op == "NotIn") r.op = Req::kNotIn;
      else if (op == "Exists") r.op = Req::kExists;
      else if (op == "DoesNotExist") r.op = Req::kNotExists;
      else return BadRequestError("\"" + op + "\" is not a valid label selector operator");
      if ((r.op == Req::kIn || r.op == Req::kNotIn) && r.values.empty())
        return BadRequestError("values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
      if ((r.op == Req::kExists || r.op == Req::kNotExists) && !r.values.empty())
        return BadRequestError("values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
      sel.reqs_.push_back(std::move(r));
    }
  }
  return sel;
}

bool LabelSelector::Empty() const { return reqs_.empty() && !nothing_; }

bool LabelSelector::Matches(const Json* labels) const {
  if (nothing_) return false;
  for (const Req& r : reqs_) {
    const std::string* v = LabelValue(labels, r.key);
    switch (r.op) {
      case Req::kEq:
        if (!v || *v != r.values[0]) return false;
        break;
      case Req::kNotEq:
        if (v && *v == r.values[0]) return false;
        break;
      case Req::kIn: {
        if (!v) return false;
        bool found = false;
        for (const auto& x : r.values) found = found || x == *v;
        if (!found) return false;
        break;
      }
      case Req::kNotIn:
        if (v)
          for (const auto& x : r.values)
            if (x == *v) return false;
        break;
      case Req::kExists:
        if (!v) return false;
        break;
      case Req::kNotExists:
        if (v) return false;
        break;
      case Req::kGt:
      case Req::kLt: {
        long long have, want;
        if (!v || !ParseInt64(*v, &have) || !ParseInt64(r.values[0], &want)) return false;
        if (r.op == Req::kGt ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

}  // namespace tug::client
