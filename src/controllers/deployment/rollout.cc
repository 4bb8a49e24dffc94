#include "controllers/deployment/rollout.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "controllers/framework/pod_util.h"

namespace tug::controllers::deployment {

using framework::GetInt;

namespace {

std::optional<int64_t> ParseInt64(std::string_view s) {
  int64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::string Annotation(const Json& obj, const char* key) {
  return GetStringPath(obj, {"metadata", "annotations", key});
}

Json& Annotations(Json& obj) {
  Json& m = obj["metadata"];
  if (!m.is_object()) m = Json::object();
  Json& a = m["annotations"];
  if (!a.is_object()) a = Json::object();
  return a;
}

bool SkipCopyAnnotation(const std::string& k) {
  return k == "kubectl.kubernetes.io/last-applied-configuration" || k == kRevisionAnnotation ||
         k == kRevisionHistoryAnnotation || k == kDesiredReplicasAnnotation || k == kMaxReplicasAnnotation ||
         k == "deprecated.deployment.rollback.to";
}

int64_t Sum(const std::vector<const Json*>& rss, std::initializer_list<std::string_view> path, int64_t def) {
  int64_t n = 0;
  for (const Json* rs : rss)
    if (rs) n += GetInt(*rs, path, def);
  return n;
}

}  // namespace

int64_t Replicas(const Json& obj) { return GetInt(obj, {"spec", "replicas"}, 1); }

bool IsRollingUpdate(const Json& d) {
  std::string t = GetStringPath(d, {"spec", "strategy", "type"});
  return t.empty() || t == "RollingUpdate";
}

Result<int64_t> ScaledValue(const Json* v, int64_t total, bool round_up) {
  if (!v || v->is_null()) return BadRequestError("nil value for IntOrString");
  if (v->is_number_integer()) return v->get<int64_t>();
  if (!v->is_string()) return BadRequestError("invalid type for IntOrString");
  std::string s = v->get<std::string>();
  if (s.empty() || s.back() != '%')
    return BadRequestError("invalid type: string is not a percentage");
  auto pct = ParseInt64(std::string_view(s).substr(0, s.size() - 1));
  if (!pct) return BadRequestError("invalid value for IntOrString: invalid value \"" + s + "\"");
  double x = static_cast<double>(*pct) * static_cast<double>(total) / 100.0;
  return static_cast<int64_t>(round_up ? std::ceil(x) : std::floor(x));
}

std::pair<int64_t, int64_t> ResolveFenceposts(const Json& d) {
  int64_t desired = Replicas(d);
  const Json* ru = FindPath(d, {"spec", "strategy", "rollingUpdate"});
  Json def = "25%";
  const Json* ms = ru ? Find(*ru, "maxSurge") : nullptr;
  const Json* mu = ru ? Find(*ru, "maxUnavailable") : nullptr;
  auto surge = ScaledValue(ms ? ms : &def, desired, true);
  auto unavailable = ScaledValue(mu ? mu : &def, desired, false);
  int64_t s = surge.ok() ? *surge : 0;
  int64_t u = unavailable.ok() ? *unavailable : 0;
  // Both zero would make no progress possible: allow one unavailable (upstream does the same).
  if (s == 0 && u == 0) u = 1;
  return {s, u};
}

int64_t MaxSurge(const Json& d) {
  if (!IsRollingUpdate(d)) return 0;
  return ResolveFenceposts(d).first;
}

int64_t MaxUnavailable(const Json& d) {
  int64_t replicas = Replicas(d);
  if (!IsRollingUpdate(d) || replicas == 0) return 0;
  int64_t u = ResolveFenceposts(d).second;
  return std::min(u, replicas);
}

std::string SafeEncodeString(const std::string& s) {
  static constexpr char kAlphanums[] = "bcdfghjklmnpqrstvwxz2456789";
  constexpr size_t n = sizeof(kAlphanums) - 1;
  std::string out(s.size(), ' ');
  for (size_t i = 0; i < s.size(); ++i) out[i] = kAlphanums[static_cast<unsigned char>(s[i]) % n];
  return out;
}

namespace {
Json WithoutHash(const Json& t) {
  Json c = t;
  if (c.is_object() && c.contains("metadata") && c["metadata"].is_object()) {
    Json& m = c["metadata"];
    if (m.contains("labels") && m["labels"].is_object()) {
      m["labels"].erase(kPodTemplateHashLabel);
      if (m["labels"].empty()) m.erase("labels");
    }
    // Semantic equality: empty maps equal absent ones.
    for (const char* k : {"annotations", "labels"})
      if (m.contains(k) && (m[k].is_null() || (m[k].is_object() && m[k].empty()))) m.erase(k);
    if (m.empty()) c.erase("metadata");
  }
  return c;
}
}  // namespace

std::string ComputeHash(const Json& pod_template, std::optional<int64_t> collision_count) {
  std::string text = DumpJson(WithoutHash(pod_template));
  uint32_t h = 2166136261u;
  auto feed = [&h](unsigned char b) {
    h ^= b;
    h *= 16777619u;
  };
  for (unsigned char ch : text) feed(ch);
  if (collision_count) {
    uint32_t c = static_cast<uint32_t>(*collision_count);
    for (int i = 0; i < 4; ++i) feed(static_cast<unsigned char>((c >> (8 * i)) & 0xff));
  }
  return SafeEncodeString(std::to_string(h));
}

bool EqualIgnoreHash(const Json& a, const Json& b) { return WithoutHash(a) == WithoutHash(b); }

int64_t Revision(const Json& rs) {
  auto v = ParseInt64(Annotation(rs, kRevisionAnnotation));
  return v ? *v : 0;
}

std::optional<int64_t> IntAnnotation(const Json& obj, const char* key) { return ParseInt64(Annotation(obj, key)); }

bool SetReplicasAnnotations(Json& rs, int64_t desired, int64_t max) {
  bool changed = false;
  Json& a = Annotations(rs);
  std::string ds = std::to_string(desired), ms = std::to_string(max);
  if (GetString(a, kDesiredReplicasAnnotation) != ds || !a.contains(kDesiredReplicasAnnotation)) {
    a[kDesiredReplicasAnnotation] = ds;
    changed = true;
  }
  if (GetString(a, kMaxReplicasAnnotation) != ms || !a.contains(kMaxReplicasAnnotation)) {
    a[kMaxReplicasAnnotation] = ms;
    changed = true;
  }
  return changed;
}

bool ReplicasAnnotationsNeedUpdate(const Json& rs, int64_t desired, int64_t max) {
  const Json* a = FindPath(rs, {"metadata", "annotations"});
  if (!a || !a->is_object()) return true;
  return GetString(*a, kDesiredReplicasAnnotation) != std::to_string(desired) ||
         GetString(*a, kMaxReplicasAnnotation) != std::to_string(max);
}

bool SetNewReplicaSetAnnotations(const Json& d, Json& rs, const std::string& new_revision, bool exists) {
  bool changed = false;
  Json& a = Annotations(rs);
  if (const Json* da = FindPath(d, {"metadata", "annotations"}); da && da->is_object()) {
    for (auto it = da->begin(); it != da->end(); ++it) {
      if (SkipCopyAnnotation(it.key())) continue;
      if (a.contains(it.key()) && a[it.key()] == it.value()) continue;
      a[it.key()] = it.value();
      changed = true;
    }
  }
  bool had = a.contains(kRevisionAnnotation) && a[kRevisionAnnotation].is_string();
  std::string old_revision = had ? a[kRevisionAnnotation].get<std::string>() : "";
  int64_t old_int = 0;
  if (!old_revision.empty()) {
    auto v = ParseInt64(old_revision);
    if (!v) return false;
    old_int = *v;
  }
  auto new_int = ParseInt64(new_revision);
  if (!new_int) return false;
  if (old_int < *new_int) {
    a[kRevisionAnnotation] = new_revision;
    changed = true;
  }
  if (had && old_int < *new_int) {
    // A reused (rolled back to) ReplicaSet keeps the revisions it had before.
    std::string hist = GetString(a, kRevisionHistoryAnnotation);
    if (hist.empty()) {
      a[kRevisionHistoryAnnotation] = old_revision;
    } else {
      std::vector<std::string> revs;
      size_t pos = 0;
      while (true) {
        size_t comma = hist.find(',', pos);
        revs.push_back(hist.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
      size_t total = hist.size() + old_revision.size() + 1, start = 0;
      while (total > kMaxRevHistoryLengthInChars && start < revs.size()) {
        total -= revs[start].size() + 1;
        ++start;
      }
      if (total <= kMaxRevHistoryLengthInChars) {
        std::string joined;
        for (size_t i = start; i < revs.size(); ++i) joined += revs[i] + ",";
        joined += old_revision;
        a[kRevisionHistoryAnnotation] = joined;
      }
    }
  }
  if (!exists && SetReplicasAnnotations(rs, Replicas(d), Replicas(d) + MaxSurge(d))) changed = true;
  return changed;
}

int64_t SpecReplicas(const std::vector<const Json*>& rss) { return Sum(rss, {"spec", "replicas"}, 1); }
int64_t StatusReplicas(const std::vector<const Json*>& rss) { return Sum(rss, {"status", "replicas"}, 0); }
int64_t ReadyReplicas(const std::vector<const Json*>& rss) { return Sum(rss, {"status", "readyReplicas"}, 0); }
int64_t AvailableReplicas(const std::vector<const Json*>& rss) { return Sum(rss, {"status", "availableReplicas"}, 0); }

int64_t NewRSNewReplicas(const Json& d, const std::vector<const Json*>& all_rss, const Json& new_rs) {
  if (!IsRollingUpdate(d)) return Replicas(d);
  int64_t replicas = Replicas(d);
  const Json* ru = FindPath(d, {"spec", "strategy", "rollingUpdate"});
  Json def = "25%";
  const Json* ms = ru ? Find(*ru, "maxSurge") : nullptr;
  auto surge = ScaledValue(ms ? ms : &def, replicas, true);
  int64_t max_surge = surge.ok() ? *surge : 0;
  int64_t current = SpecReplicas(all_rss);
  int64_t max_total = replicas + max_surge;
  int64_t new_replicas = Replicas(new_rs);
  if (current >= max_total) return new_replicas;
  int64_t up = std::min(max_total - current, replicas - new_replicas);
  return new_replicas + up;
}

int64_t ReplicaSetProportion(const Json& rs, const Json& d, int64_t to_add, int64_t added) {
  int64_t rs_replicas = Replicas(rs);
  if (rs_replicas == 0 || to_add == 0 || to_add == added) return 0;
  int64_t fraction;
  if (Replicas(d) == 0) {
    fraction = -rs_replicas;
  } else {
    int64_t max_replicas = Replicas(d) + MaxSurge(d);
    auto before = IntAnnotation(rs, kMaxReplicasAnnotation);
    int64_t b = before && *before != 0 ? *before : GetInt(d, {"status", "replicas"});
    if (b == 0) {
      fraction = 0;
    } else {
      double size = static_cast<double>(rs_replicas * max_replicas) / static_cast<double>(b);
      fraction = static_cast<int64_t>(std::round(size)) - rs_replicas;
    }
  }
  int64_t allowed = to_add - added;
  return to_add > 0 ? std::min(fraction, allowed) : std::max(fraction, allowed);
}

bool DeploymentComplete(const Json& d, const Json& s) {
  int64_t r = Replicas(d);
  return GetInt(s, {"updatedReplicas"}) == r && GetInt(s, {"replicas"}) == r && GetInt(s, {"availableReplicas"}) == r &&
         GetInt(s, {"observedGeneration"}) >= GetInt(d, {"metadata", "generation"});
}

bool DeploymentProgressing(const Json& d, const Json& s) {
  const Json empty = Json::object();
  const Json* old_p = Find(d, "status");
  const Json& o = old_p && old_p->is_object() ? *old_p : empty;
  int64_t old_old = GetInt(o, {"replicas"}) - GetInt(o, {"updatedReplicas"});
  int64_t new_old = GetInt(s, {"replicas"}) - GetInt(s, {"updatedReplicas"});
  return GetInt(s, {"updatedReplicas"}) > GetInt(o, {"updatedReplicas"}) || new_old < old_old ||
         GetInt(s, {"readyReplicas"}) > GetInt(o, {"readyReplicas"}) ||
         GetInt(s, {"availableReplicas"}) > GetInt(o, {"availableReplicas"});
}

}  // namespace tug::controllers::deployment
