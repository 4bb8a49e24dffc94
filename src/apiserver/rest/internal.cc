#include "apiserver/rest/internal.h"

#include <algorithm>
#include <cstring>
#include <random>
#include <vector>

#include "apiserver/rest/json_scan.h"

namespace tug::apiserver::rest {
namespace {

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng;
}

std::string Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

struct MediaRange {
  std::string type;
  std::vector<std::pair<std::string, std::string>> params;
  std::string Param(std::string_view k) const {
    for (const auto& [a, b] : params)
      if (a == k) return b;
    return "";
  }
};

std::vector<MediaRange> ParseAccept(std::string_view accept) {
  std::vector<MediaRange> out;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string_view::npos) end = accept.size();
    std::string_view part = accept.substr(start, end - start);
    MediaRange mr;
    size_t semi = part.find(';');
    mr.type = Trim(part.substr(0, semi));
    while (semi != std::string_view::npos) {
      size_t next = part.find(';', semi + 1);
      std::string_view p = part.substr(semi + 1, next == std::string_view::npos ? std::string_view::npos : next - semi - 1);
      size_t eq = p.find('=');
      if (eq != std::string_view::npos) mr.params.emplace_back(Trim(p.substr(0, eq)), Trim(p.substr(eq + 1)));
      semi = next;
    }
    if (!mr.type.empty()) out.push_back(std::move(mr));
    start = end + 1;
  }
  return out;
}

bool IsJsonLike(const std::string& t) {
  return t == "application/json" || t == "*/*" || t == "application/*" || t == "application/yaml" ||
         t == "application/vnd.kubernetes.protobuf" || t == "application/json;stream=watch";
}

const char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string B64UrlEncode(std::string_view in) {
  std::string out;
  size_t i = 0;
  while (i + 2 < in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += kB64[(n >> 18) & 63]; out += kB64[(n >> 12) & 63]; out += kB64[(n >> 6) & 63]; out += kB64[n & 63];
    i += 3;
  }
  if (i + 1 == in.size()) {
    uint32_t n = uint8_t(in[i]) << 16;
    out += kB64[(n >> 18) & 63]; out += kB64[(n >> 12) & 63];
  } else if (i + 2 == in.size()) {
    uint32_t n = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kB64[(n >> 18) & 63]; out += kB64[(n >> 12) & 63]; out += kB64[(n >> 6) & 63];
  }
  return out;
}

bool B64UrlDecode(std::string_view in, std::string* out) {
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const char* p = std::strchr(kB64, c);
    if (c == '+') p = kB64 + 62;
    if (c == '/') p = kB64 + 63;
    if (!p || c == '\0') return false;
    buf = (buf << 6) | uint32_t(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(char((buf >> bits) & 0xff));
    }
  }
  return true;
}

}  // namespace

std::string NewUid() {
  uint64_t a = Rng()(), b = Rng()();
  a = (a & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  b = (b & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[40];
  snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", uint32_t(a >> 32), uint32_t((a >> 16) & 0xffff),
           uint32_t(a & 0xffff), uint32_t(b >> 48), static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

std::string RandomNameSuffix() {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  std::string s;
  for (int i = 0; i < 5; ++i) s += kAlphabet[Rng()() % kAlphabet.size()];
  return s;
}

Negotiated NegotiateObject(std::string_view accept) {
  Negotiated n;
  if (Trim(accept).empty()) return n;
  for (const auto& mr : ParseAccept(accept)) {
    std::string as = mr.Param("as");
    if (as.empty()) {
      if (IsJsonLike(mr.type)) return n;
      continue;
    }
    if (as == "Table" && mr.Param("g") == "meta.k8s.io" && (mr.Param("v") == "v1" || mr.Param("v") == "v1beta1") &&
        (mr.type == "application/json" || mr.type == "*/*")) {
      n.table = true;
      n.table_version = mr.Param("v");
      return n;
    }
  }
  n.acceptable = false;
  return n;
}

std::string NegotiateDiscovery(std::string_view accept) {
  for (const auto& mr : ParseAccept(accept)) {
    std::string as = mr.Param("as");
    if (as == "APIGroupDiscoveryList" && mr.Param("g") == "apidiscovery.k8s.io") {
      std::string v = mr.Param("v");
      if (v == "v2" || v == "v2beta1") return v;
      continue;
    }
    if (as.empty()) return "";
  }
  return "";
}

std::string EncodeContinue(const std::string& key, int64_t rev) {
  Json j = {{"v", "meta.k8s.io/v1"}, {"rv", rev}, {"start", key}};
  return B64UrlEncode(DumpJson(j));
}

Status DecodeContinue(std::string_view token, std::string* key, int64_t* rev) {
  std::string raw;
  if (!B64UrlDecode(token, &raw)) return BadRequestError("continue key is not valid: illegal base64 data");
  auto j = ParseJson(raw);
  if (!j.ok() || !j->is_object() || GetString(*j, "v") != "meta.k8s.io/v1" || !(*j)["rv"].is_number_integer())
    return BadRequestError("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  *rev = (*j)["rv"].get<int64_t>();
  *key = GetString(*j, "start");
  if (*rev <= 0 || key->empty()) return BadRequestError("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)");
  return Status::Ok();
}

void BindPodJson(Json& pod, const std::string& node, const std::string& now) {
  pod["spec"]["nodeName"] = node;
  Json& conds = pod["status"]["conditions"];
  if (!conds.is_array()) conds = Json::array();
  bool found = false;
  for (auto& cond : conds)
    if (GetString(cond, "type") == "PodScheduled") {
      cond["status"] = "True";
      cond["lastTransitionTime"] = now;
      found = true;
    }
  if (!found)
    conds.push_back({{"type", "PodScheduled"}, {"status", "True"}, {"lastProbeTime", nullptr}, {"lastTransitionTime", now}});
}

namespace {

// Replaces text[at, at + erase) with `text`.
struct Edit {
  size_t at;
  std::string text;
  size_t erase = 0;
};

// Where member `key` goes in the object at text[obj.begin] ('{'): after the last member whose
// key sorts before it (DumpJson sorts keys). False when the object already has `key`, a key is
// escaped (its order would need unescaping), or the text is malformed.
bool SortedInsertion(std::string_view text, Span obj, std::string_view key, std::string_view value, Edit* out) {
  if (obj.begin >= text.size() || text[obj.begin] != '{') return false;
  std::optional<size_t> after;  // end of the last member sorting before key
  bool any = false, ok = true;
  if (!ForEachMember(text, obj, [&](std::string_view k, Span v) {
        any = true;
        if (k == key || k.find('\\') != std::string_view::npos) return ok = false;
        if (k < key) after = v.end;
        return true;
      }) ||
      !ok)
    return false;
  std::string member = "\"" + std::string(key) + "\":" + std::string(value);
  if (after) *out = Edit{*after, "," + member};
  else *out = Edit{obj.begin + 1, any ? member + "," : member};
  return true;
}

}  // namespace

std::optional<std::string> SpliceBinding(std::string_view stored, const std::string& node, const std::string& now,
                                         std::string* uid) {
  if (uid) uid->clear();
  std::optional<Span> meta, spec, status;
  bool ok = true;
  if (!ForEachMember(stored, Span{0, stored.size()}, [&](std::string_view k, Span v) {
        if (k == "metadata") meta = v;
        else if (k == "spec") spec = v;
        else if (k == "status") status = v;
        else if (k.find('\\') != std::string_view::npos) return ok = false;
        return true;
      }) ||
      !ok || !meta || !spec)
    return std::nullopt;
  // A stored resourceVersion (the watch cache hands its spliced bytes back to the store) is
  // dropped, as the parse path erases it: the member with the comma before it (or after it, when
  // it is the first member).
  std::optional<size_t> prev_end;     // end of the previous member's value
  std::optional<Span> rv;             // the resourceVersion member, opening quote to value end
  std::optional<size_t> rv_prev_end;  // end of the member before it
  std::optional<size_t> rv_next_key;  // opening quote of the member after it
  if (!ForEachMember(stored, *meta, [&](std::string_view k, Span v) {
        if (k == "deletionTimestamp") return ok = false;
        size_t key_at = static_cast<size_t>(k.data() - stored.data()) - 1;
        if (rv && !rv_next_key) rv_next_key = key_at;
        if (k == "resourceVersion") {
          if (rv) return ok = false;  // duplicate key: the parse path decides
          rv = Span{key_at, v.end};
          rv_prev_end = prev_end;
        } else if (k == "uid" && uid && v.end - v.begin >= 2 && stored[v.begin] == '"') {
          std::string_view raw = stored.substr(v.begin + 1, v.end - v.begin - 2);
          if (raw.find('\\') == std::string_view::npos) *uid = raw;  // escaped: left empty (the parse path compares)
        }
        prev_end = v.end;
        return true;
      }) ||
      !ok)
    return std::nullopt;
  std::string cond = "[{\"lastProbeTime\":null,\"lastTransitionTime\":" + DumpJson(Json(now)) +
                     ",\"status\":\"True\",\"type\":\"PodScheduled\"}]";
  std::vector<Edit> edits(2);
  if (rv) {
    size_t from = rv_prev_end ? *rv_prev_end : rv->begin;
    size_t to = !rv_prev_end && rv_next_key ? *rv_next_key : rv->end;
    edits.push_back(Edit{from, "", to - from});
  }
  if (!SortedInsertion(stored, *spec, "nodeName", DumpJson(Json(node)), &edits[0])) return std::nullopt;
  if (status) {
    if (!SortedInsertion(stored, *status, "conditions", cond, &edits[1])) return std::nullopt;
  } else if (!SortedInsertion(stored, Span{0, stored.size()}, "status", "{\"conditions\":" + cond + "}", &edits[1])) {
    return std::nullopt;
  }
  std::sort(edits.begin(), edits.end(), [](const Edit& a, const Edit& b) { return a.at < b.at; });
  std::string out;
  out.reserve(stored.size() + edits[0].text.size() + edits[1].text.size());
  size_t pos = 0;
  for (const Edit& e : edits) {  // disjoint: the erased member is inside metadata, the insertions are not
    out.append(stored.substr(pos, e.at - pos));
    out += e.text;
    pos = e.at + e.erase;
  }
  out.append(stored.substr(pos));
  return out;
}

namespace {

constexpr int kMaxScanDepth = 64;

// The value at t[v.begin] (no leading blanks): do its objects all have distinct, unescaped keys?
bool ValueKeysDistinct(std::string_view t, Span v, int depth) {
  if (depth > kMaxScanDepth || v.begin >= t.size()) return false;
  if (t[v.begin] == '{') {
    std::vector<std::string_view> keys;
    bool ok = true;
    if (!ForEachMember(t, v, [&](std::string_view k, Span value) {
          if (k.find('\\') != std::string_view::npos || !ValueKeysDistinct(t, value, depth + 1)) return ok = false;
          keys.push_back(k);
          return true;
        }) ||
        !ok)
      return false;
    std::sort(keys.begin(), keys.end());
    return std::adjacent_find(keys.begin(), keys.end()) == keys.end();
  }
  if (t[v.begin] == '[') {
    bool ok = true;
    return ForEachElement(t, v, [&](Span e) { return ok = ValueKeysDistinct(t, e, depth + 1); }) && ok;
  }
  return true;  // a scalar (its syntax is the parser's business)
}

}  // namespace

bool KeysDistinct(std::string_view text) {
  std::optional<size_t> end = SkipJsonValue(text, 0);
  if (!end) return false;
  size_t begin = text.find_first_not_of(" \t\n\r");
  if (text[begin] != '{' && text[begin] != '[') return false;
  return ValueKeysDistinct(text, Span{begin, *end}, 1);
}

namespace {

void AppendShape(const Json& v, std::string& out) {
  switch (v.type()) {
    case Json::value_t::object:
      out += '{';
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += std::to_string(it.key().size());
        out += ':';
        out += it.key();
        AppendShape(it.value(), out);
      }
      out += '}';
      return;
    case Json::value_t::array: {
      std::string dumped = DumpJson(v);
      out += '[';
      out += std::to_string(dumped.size());
      out += ':';
      out += dumped;
      return;
    }
    case Json::value_t::null:
      out += 'z';
      return;
    default:
      out += 's';  // any other scalar: only its presence is tracked
      return;
  }
}

}  // namespace

std::string ManagedFieldsShape(const Json& obj) {
  std::string out;
  out.reserve(512);
  AppendShape(obj, out);
  return out;
}

std::optional<Json> ManagedFieldsMemo::Find(const std::string& key, const std::string& now) const {
  std::shared_ptr<const Json> found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return std::nullopt;
    found = it->second;
  }
  Json mf = *found;  // copied outside the lock
  mf[0]["time"] = now;
  return mf;
}

void ManagedFieldsMemo::Remember(std::string key, const Json& managed_fields) {
  if (!managed_fields.is_array() || managed_fields.size() != 1) return;
  auto v = std::make_shared<const Json>(managed_fields);
  std::lock_guard<std::mutex> lock(mu_);
  if (entries_.size() >= kMaxEntries) entries_.clear();
  entries_.insert_or_assign(std::move(key), std::move(v));
}

}  // namespace tug::apiserver::rest
