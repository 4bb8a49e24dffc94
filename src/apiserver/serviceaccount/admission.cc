#include "apiserver/serviceaccount/admission.h"

#include <openssl/rand.h>

#include <cstdlib>

#include "apiserver/serviceaccount/jwt.h"

namespace tug::apiserver::serviceaccount {
namespace {

constexpr char kMirrorAnnotation[] = "kubernetes.io/config.mirror";
constexpr char kTokenSecretType[] = "kubernetes.io/service-account-token";
constexpr char kSaNameAnnotation[] = "kubernetes.io/service-account.name";
constexpr char kSaUidAnnotation[] = "kubernetes.io/service-account.uid";

Status Forbidden(const Json& pod, const std::string& why) {
  std::string name = GetStringPath(pod, {"metadata", "name"});
  StatusDetails d;
  d.name = name;
  d.kind = "pods";
  return ForbiddenError("pods \"" + name + "\" is forbidden: " + why).WithDetails(d);
}

bool HasSecretReference(const Json& spec) {
  if (const Json* vols = Find(spec, "volumes"); vols && vols->is_array())
    for (const auto& v : *vols) {
      if (Find(v, "secret")) return true;
      if (const Json* srcs = FindPath(v, {"projected", "sources"}); srcs && srcs->is_array())
        for (const auto& s : *srcs)
          if (Find(s, "secret")) return true;
    }
  if (const Json* ips = Find(spec, "imagePullSecrets"); ips && ips->is_array() && !ips->empty()) return true;
  for (const char* list : {"initContainers", "containers", "ephemeralContainers"}) {
    const Json* cs = Find(spec, list);
    if (!cs || !cs->is_array()) continue;
    for (const auto& c : *cs) {
      if (const Json* env = Find(c, "env"); env && env->is_array())
        for (const auto& e : *env)
          if (FindPath(e, {"valueFrom", "secretKeyRef"})) return true;
      if (const Json* ef = Find(c, "envFrom"); ef && ef->is_array())
        for (const auto& e : *ef)
          if (Find(e, "secretRef")) return true;
    }
  }
  return false;
}

bool ShouldAutomount(const Json& sa, const Json& spec) {
  if (const Json* p = Find(spec, "automountServiceAccountToken"); p && p->is_boolean()) return p->get<bool>();
  if (const Json* s = Find(sa, "automountServiceAccountToken"); s && s->is_boolean()) return s->get<bool>();
  return true;
}

}  // namespace

std::string RandomSuffix() {
  static const char kAlphabet[] = "bcdfghjklmnpqrstvwxz2456789";
  unsigned char b[5];
  if (RAND_bytes(b, sizeof b) != 1)
    for (auto& c : b) c = static_cast<unsigned char>(std::rand());
  std::string s;
  for (unsigned char c : b) s += kAlphabet[c % (sizeof kAlphabet - 1)];
  return s;
}

Json ApiAccessVolumeSource() {
  return {{"defaultMode", 420},
          {"sources",
           Json::array({{{"serviceAccountToken", {{"expirationSeconds", kWarnOnlyExpirationSeconds}, {"path", "token"}}}},
                        {{"configMap",
                          {{"name", kRootCaConfigMap}, {"items", Json::array({{{"key", "ca.crt"}, {"path", "ca.crt"}}})}}}},
                        {{"downwardAPI",
                          {{"items", Json::array({{{"path", "namespace"},
                                                   {"fieldRef", {{"apiVersion", "v1"}, {"fieldPath", "metadata.namespace"}}}}})}}}}})}};
}

Status AdmitPod(Json& pod, const std::string& ns, const ObjectGetter& get, const std::function<std::string()>& suffix) {
  if (!pod.is_object()) return Status::Ok();
  Json& spec = pod["spec"];
  if (!spec.is_object()) return Status::Ok();  // validation reports it
  if (FindPath(pod, {"metadata", "annotations", kMirrorAnnotation})) {
    if (!GetString(spec, "serviceAccountName").empty())
      return Forbidden(pod, "a mirror pod may not reference service accounts");
    if (HasSecretReference(spec)) return Forbidden(pod, "a mirror pod may not reference secrets");
    return Status::Ok();
  }
  std::string sa_name = GetString(spec, "serviceAccountName");
  // v1's deprecated alias fills the name when only it is given, and always mirrors it.
  if (sa_name.empty()) sa_name = GetString(spec, "serviceAccount");
  if (sa_name.empty()) sa_name = kDefaultServiceAccount;
  spec["serviceAccountName"] = sa_name;
  spec["serviceAccount"] = sa_name;
  std::optional<Json> sa = get("serviceaccounts", ns, sa_name);
  if (!sa)
    return Forbidden(pod, "error looking up service account " + ns + "/" + sa_name + ": serviceaccount \"" + sa_name +
                              "\" not found");
  if (ShouldAutomount(*sa, spec)) {
    std::string vol_name;
    bool has_volume = false;
    Json& vols = spec["volumes"];
    if (!vols.is_array()) vols = Json::array();
    for (const auto& v : vols) {
      std::string n = GetString(v, "name");
      if (n.rfind(kApiAccessVolumePrefix, 0) == 0) {
        vol_name = n;
        has_volume = true;
        break;
      }
    }
    if (vol_name.empty()) vol_name = kApiAccessVolumePrefix + suffix();
    Json mount = {{"name", vol_name}, {"readOnly", true}, {"mountPath", kTokenMountPath}};
    bool needed = false;
    for (const char* list : {"initContainers", "containers"}) {
      Json* cs = spec.contains(list) ? &spec[list] : nullptr;
      if (!cs || !cs->is_array()) continue;
      for (auto& c : *cs) {
        if (!c.is_object()) continue;
        Json& mounts = c["volumeMounts"];
        if (!mounts.is_array()) mounts = Json::array();
        bool existing = false;
        for (const auto& m : mounts)
          if (GetString(m, "mountPath") == kTokenMountPath) existing = true;
        if (existing) continue;
        mounts.push_back(mount);
        needed = true;
      }
    }
    if (needed && !has_volume) vols.push_back({{"name", vol_name}, {"projected", ApiAccessVolumeSource()}});
    if (vols.empty()) spec.erase("volumes");
    for (const char* list : {"initContainers", "containers"}) {
      if (!spec.contains(list) || !spec[list].is_array()) continue;
      for (auto& c : spec[list])
        if (c.is_object() && c.contains("volumeMounts") && c["volumeMounts"].empty()) c.erase("volumeMounts");
    }
  }
  const Json* pull = Find(spec, "imagePullSecrets");
  if ((!pull || !pull->is_array() || pull->empty())) {
    if (const Json* sps = Find(*sa, "imagePullSecrets"); sps && sps->is_array() && !sps->empty())
      spec["imagePullSecrets"] = *sps;
  }
  return Status::Ok();
}

Status AdmitTokenSecret(Json& secret, const std::string& ns, const ObjectGetter& get, const TokenService& tokens) {
  if (GetString(secret, "type") != kTokenSecretType) return Status::Ok();
  std::string sa_name = GetStringPath(secret, {"metadata", "annotations", kSaNameAnnotation});
  std::string name = GetStringPath(secret, {"metadata", "name"});
  if (sa_name.empty()) return Status::Ok();  // validation requires the annotation and says so
  std::optional<Json> sa = get("serviceaccounts", ns, sa_name);
  if (!sa) {
    StatusDetails d;
    d.name = name;
    d.kind = "secrets";
    return ForbiddenError("secrets \"" + name + "\" is forbidden: error looking up service account " + ns + "/" +
                          sa_name + ": serviceaccount \"" + sa_name + "\" not found")
        .WithDetails(d);
  }
  std::string uid = GetStringPath(*sa, {"metadata", "uid"});
  std::string want_uid = GetStringPath(secret, {"metadata", "annotations", kSaUidAnnotation});
  if (!want_uid.empty() && want_uid != uid) return Status::Ok();  // meant for an older ServiceAccount
  secret["metadata"]["annotations"][kSaUidAnnotation] = uid;
  Json& data = secret["data"];
  if (!data.is_object()) data = Json::object();
  if (GetString(data, "token").empty()) {
    if (name.empty()) return Status::Ok();  // generateName: the token names the secret; validation will fail
    ASSIGN_OR_RETURN(std::string token, tokens.LegacyToken(*sa, name));
    data["token"] = Base64Encode(token);
  }
  if (!data.contains("ca.crt") && !tokens.ca_pem().empty()) data["ca.crt"] = Base64Encode(tokens.ca_pem());
  if (!data.contains("namespace")) data["namespace"] = Base64Encode(ns);
  return Status::Ok();
}

Status AdmitCreate(const std::string& group, const std::string& resource, const std::string& ns, Json& obj,
                   const ObjectGetter& get, const TokenService& tokens) {
  if (!group.empty()) return Status::Ok();
  if (resource == "pods") return AdmitPod(obj, ns, get);
  if (resource == "secrets") return AdmitTokenSecret(obj, ns, get, tokens);
  return Status::Ok();
}

}  // namespace tug::apiserver::serviceaccount
