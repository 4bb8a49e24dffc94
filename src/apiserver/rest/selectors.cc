#include "apiserver/rest/selectors.h"

#include <cctype>
#include <cstdlib>

namespace tug::apiserver::rest {
namespace {

enum class Tok { kEnd, kIdent, kBang, kEq, kDoubleEq, kNotEq, kGt, kLt, kOpen, kClose, kComma, kIn, kNotIn };

struct Token {
  Tok type;
  std::string text;
};

bool IsSpecial(char c) { return c == '!' || c == '=' || c == '(' || c == ')' || c == ',' || c == '>' || c == '<'; }

// Splits a label selector into tokens the way upstream's lexer does.
std::vector<Token> Lex(std::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (c == '!' && i + 1 < s.size() && s[i + 1] == '=') { out.push_back({Tok::kNotEq, "!="}); i += 2; continue; }
    if (c == '=' && i + 1 < s.size() && s[i + 1] == '=') { out.push_back({Tok::kDoubleEq, "=="}); i += 2; continue; }
    if (c == '!') { out.push_back({Tok::kBang, "!"}); ++i; continue; }
    if (c == '=') { out.push_back({Tok::kEq, "="}); ++i; continue; }
    if (c == '>') { out.push_back({Tok::kGt, ">"}); ++i; continue; }
    if (c == '<') { out.push_back({Tok::kLt, "<"}); ++i; continue; }
    if (c == '(') { out.push_back({Tok::kOpen, "("}); ++i; continue; }
    if (c == ')') { out.push_back({Tok::kClose, ")"}); ++i; continue; }
    if (c == ',') { out.push_back({Tok::kComma, ","}); ++i; continue; }
    size_t j = i;
    while (j < s.size() && !IsSpecial(s[j]) && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    std::string word(s.substr(i, j - i));
    Tok t = Tok::kIdent;
    if (word == "in") t = Tok::kIn;
    if (word == "notin") t = Tok::kNotIn;
    out.push_back({t, word});
    i = j;
  }
  out.push_back({Tok::kEnd, ""});
  return out;
}

Status ParseError(const std::string& found, const std::string& expected) {
  return BadRequestError("unable to parse requirement: found '" + found + "', expected: " + expected);
}

bool ValidLabelValue(std::string_view v) {
  if (v.size() > 63) return false;
  if (v.empty()) return true;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(v.front()) || !alnum(v.back())) return false;
  for (char c : v)
    if (!alnum(c) && c != '-' && c != '_' && c != '.') return false;
  return true;
}

}  // namespace

Result<LabelSelector> LabelSelector::Parse(std::string_view text) {
  LabelSelector sel;
  std::vector<Token> toks = Lex(text);
  size_t p = 0;
  if (toks[0].type == Tok::kEnd) return sel;
  while (true) {
    Requirement r;
    bool bang = false;
    if (toks[p].type == Tok::kBang) { bang = true; ++p; }
    if (toks[p].type != Tok::kIdent) return ParseError(toks[p].text, "identifier");
    r.key = toks[p++].text;
    if (bang) {
      r.op = Op::kDoesNotExist;
    } else if (toks[p].type == Tok::kComma || toks[p].type == Tok::kEnd) {
      r.op = Op::kExists;
    } else {
      Tok op = toks[p].type;
      switch (op) {
        case Tok::kEq: case Tok::kDoubleEq: r.op = Op::kEquals; break;
        case Tok::kNotEq: r.op = Op::kNotEquals; break;
        case Tok::kGt: r.op = Op::kGreaterThan; break;
        case Tok::kLt: r.op = Op::kLessThan; break;
        case Tok::kIn: r.op = Op::kIn; break;
        case Tok::kNotIn: r.op = Op::kNotIn; break;
        default: return ParseError(toks[p].text, "in, notin, =, ==, !=, gt, lt");
      }
      ++p;
      if (r.op == Op::kIn || r.op == Op::kNotIn) {
        if (toks[p].type != Tok::kOpen) return ParseError(toks[p].text, "'('");
        ++p;
        while (true) {
          if (toks[p].type == Tok::kIdent || toks[p].type == Tok::kIn || toks[p].type == Tok::kNotIn) {
            r.values.push_back(toks[p++].text);
          } else if (toks[p].type == Tok::kComma || toks[p].type == Tok::kClose) {
            r.values.push_back("");  // an empty value between separators
          } else {
            return ParseError(toks[p].text, "',', ')' or identifier");
          }
          if (toks[p].type == Tok::kComma) { ++p; continue; }
          if (toks[p].type == Tok::kClose) { ++p; break; }
          return ParseError(toks[p].text, "',' or ')'");
        }
      } else if (toks[p].type == Tok::kIdent || toks[p].type == Tok::kIn || toks[p].type == Tok::kNotIn) {
        r.values.push_back(toks[p++].text);
      } else if (toks[p].type == Tok::kComma || toks[p].type == Tok::kEnd) {
        r.values.push_back("");
      } else {
        return ParseError(toks[p].text, "identifier");
      }
      if (r.op == Op::kGreaterThan || r.op == Op::kLessThan) {
        char* end = nullptr;
        std::strtoll(r.values[0].c_str(), &end, 10);
        if (r.values[0].empty() || *end != '\0')
          return BadRequestError("unable to parse requirement: values[0]: Invalid value: \"" + r.values[0] +
                                 "\": for 'Gt', 'Lt' operators, the value must be an integer");
      }
      for (const auto& v : r.values)
        if (!ValidLabelValue(v))
          return BadRequestError("unable to parse requirement: values[0][" + r.key + "]: Invalid value: \"" + v +
                                 "\": a valid label must be an empty string or consist of alphanumeric characters, "
                                 "'-', '_' or '.', and must start and end with an alphanumeric character");
    }
    sel.reqs_.push_back(std::move(r));
    if (toks[p].type == Tok::kEnd) break;
    if (toks[p].type != Tok::kComma) return ParseError(toks[p].text, "','");
    ++p;
  }
  return sel;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const auto& r : reqs_) {
    auto it = labels.find(r.key);
    bool has = it != labels.end();
    switch (r.op) {
      case Op::kEquals: if (!has || it->second != r.values[0]) return false; break;
      case Op::kNotEquals: if (has && it->second == r.values[0]) return false; break;
      case Op::kExists: if (!has) return false; break;
      case Op::kDoesNotExist: if (has) return false; break;
      case Op::kIn: {
        if (!has) return false;
        bool found = false;
        for (const auto& v : r.values) found = found || v == it->second;
        if (!found) return false;
        break;
      }
      case Op::kNotIn: {
        if (!has) break;
        for (const auto& v : r.values)
          if (v == it->second) return false;
        break;
      }
      case Op::kGreaterThan:
      case Op::kLessThan: {
        if (!has) return false;
        char* end = nullptr;
        long long have = std::strtoll(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0') return false;
        long long want = std::strtoll(r.values[0].c_str(), nullptr, 10);
        if (r.op == Op::kGreaterThan ? !(have > want) : !(have < want)) return false;
        break;
      }
    }
  }
  return true;
}

Result<FieldSelector> FieldSelector::Parse(std::string_view text) {
  FieldSelector sel;
  // Split on unescaped commas; backslash escapes ',', '=', '!' and '\' in values.
  std::vector<std::string> parts;
  std::string cur;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\' && i + 1 < text.size()) { cur += c; cur += text[++i]; continue; }
    if (c == ',') { parts.push_back(cur); cur.clear(); continue; }
    cur += c;
  }
  if (!cur.empty() || !parts.empty()) parts.push_back(cur);
  for (const auto& part : parts) {
    if (part.empty()) continue;
    Term t;
    size_t pos = std::string::npos;
    size_t oplen = 0;
    for (size_t i = 0; i < part.size(); ++i) {
      if (part[i] == '\\') { ++i; continue; }
      if (part.compare(i, 2, "!=") == 0) { pos = i; oplen = 2; t.negate = true; break; }
      if (part.compare(i, 2, "==") == 0) { pos = i; oplen = 2; break; }
      if (part[i] == '=') { pos = i; oplen = 1; break; }
    }
    if (pos == std::string::npos)
      return BadRequestError("invalid selector: '" + std::string(text) + "'; can't understand '" + part + "'");
    t.field = part.substr(0, pos);
    while (!t.field.empty() && t.field.back() == ' ') t.field.pop_back();
    while (!t.field.empty() && t.field.front() == ' ') t.field.erase(0, 1);
    std::string raw = part.substr(pos + oplen);
    for (size_t i = 0; i < raw.size(); ++i) {
      if (raw[i] == '\\' && i + 1 < raw.size()) { t.value += raw[++i]; continue; }
      t.value += raw[i];
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

std::string FormatLabels(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ",";
    out += k + "=" + v;
  }
  return out;
}

}  // namespace tug::apiserver::rest
