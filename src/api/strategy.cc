// api::Strategy implementations: one BuiltinStrategy per built-in kind (defaulting and
// validation from api/defaults and api/validation, create/update rules and field selectors
// from api/printers/prepare and fields, Table columns from api/printers/tables), and the
// generic fallback (Name + Age, metadata validation only) for every other kind and CRDs.
#include "api/strategy.h"

#include <map>
#include <memory>

#include "api/defaults/defaults.h"
#include "api/printers/fields.h"
#include "api/printers/prepare.h"
#include "api/printers/tables.h"
#include "api/printers/util.h"
#include "api/validation/validation.h"

namespace tug::api {
namespace {

class BuiltinStrategy final : public Strategy {
 public:
  BuiltinStrategy(std::string group, std::string kind, const printers::TableDef* table)
      : group_(std::move(group)), kind_(std::move(kind)), table_(table) {}

  void Default(Json& obj) const override { defaults::Apply(group_, kind_, obj); }
  void PrepareForCreate(Json& obj) const override { printers::PrepareForCreate(group_, kind_, obj); }
  void PrepareForUpdate(Json& obj, const Json& old) const override { printers::PrepareForUpdate(group_, kind_, obj, old); }
  void PrepareForStatusUpdate(Json& obj, const Json& old) const override {
    printers::PrepareForStatusUpdate(group_, kind_, obj, old);
  }
  // validation::Validate includes ValidateObjectMeta with the kind's name rule and scope.
  FieldErrors Validate(const Json& obj) const override { return validation::Validate(group_, kind_, obj); }
  FieldErrors ValidateUpdate(const Json& obj, const Json& old) const override {
    return validation::ValidateUpdate(group_, kind_, obj, old);
  }
  std::vector<TableColumn> Columns() const override { return table_ ? table_->columns : Strategy::Columns(); }
  Json Row(const Json& obj, SystemTime now) const override { return table_ ? table_->row(obj, now) : Strategy::Row(obj, now); }
  std::optional<std::string> FieldValue(const Json& obj, std::string_view field) const override {
    return printers::FieldValueFor(group_, kind_, obj, field);
  }

 private:
  std::string group_;
  std::string kind_;
  const printers::TableDef* table_;  // not owned; process-wide static
};

// Unknown kinds and custom resources: metadata validation only; the scope is inferred from
// the object (the REST layer rejects a namespace on cluster-scoped resources itself).
class GenericStrategy final : public Strategy {
 public:
  FieldErrors Validate(const Json& obj) const override {
    bool namespaced = !GetStringPath(obj, {"metadata", "namespace"}).empty();
    return ValidateObjectMeta(obj, namespaced);
  }
};

// Every built-in kind that gets a BuiltinStrategy (the tables list most of them; a few have
// rules but no printer of their own).
constexpr std::pair<std::string_view, std::string_view> kBuiltinKinds[] = {
    {"", "Pod"},
    {"", "PodTemplate"},
    {"", "ReplicationController"},
    {"", "Service"},
    {"", "Endpoints"},
    {"", "Node"},
    {"", "Event"},
    {"", "Namespace"},
    {"", "Secret"},
    {"", "ConfigMap"},
    {"", "ServiceAccount"},
    {"", "PersistentVolume"},
    {"", "PersistentVolumeClaim"},
    {"", "LimitRange"},
    {"", "ResourceQuota"},
    {"", "ComponentStatus"},
    {"", "Binding"},
    {"apps", "Deployment"},
    {"apps", "ReplicaSet"},
    {"apps", "StatefulSet"},
    {"apps", "DaemonSet"},
    {"apps", "ControllerRevision"},
    {"batch", "Job"},
    {"batch", "CronJob"},
    {"autoscaling", "HorizontalPodAutoscaler"},
    {"policy", "PodDisruptionBudget"},
    {"networking.k8s.io", "Ingress"},
    {"networking.k8s.io", "IngressClass"},
    {"networking.k8s.io", "NetworkPolicy"},
    {"networking.k8s.io", "ServiceCIDR"},
    {"networking.k8s.io", "IPAddress"},
    {"rbac.authorization.k8s.io", "Role"},
    {"rbac.authorization.k8s.io", "ClusterRole"},
    {"rbac.authorization.k8s.io", "RoleBinding"},
    {"rbac.authorization.k8s.io", "ClusterRoleBinding"},
    {"storage.k8s.io", "StorageClass"},
    {"storage.k8s.io", "CSIDriver"},
    {"storage.k8s.io", "CSINode"},
    {"storage.k8s.io", "VolumeAttachment"},
    {"storage.k8s.io", "CSIStorageCapacity"},
    {"coordination.k8s.io", "Lease"},
    {"discovery.k8s.io", "EndpointSlice"},
    {"scheduling.k8s.io", "PriorityClass"},
    {"node.k8s.io", "RuntimeClass"},
    {"certificates.k8s.io", "CertificateSigningRequest"},
    {"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "MutatingWebhookConfiguration"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
    {"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
    {"events.k8s.io", "Event"},
    {"flowcontrol.apiserver.k8s.io", "FlowSchema"},
    {"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
    {"apiextensions.k8s.io", "CustomResourceDefinition"},
    {"apiregistration.k8s.io", "APIService"},
};

struct Registry {
  std::map<std::string, std::unique_ptr<Strategy>, std::less<>> by_key;
  GenericStrategy generic;
};

const Registry& Strategies() {
  static const Registry* r = [] {
    auto* reg = new Registry();
    for (const auto& [group, kind] : kBuiltinKinds) {
      reg->by_key[std::string(group) + "/" + std::string(kind)] =
          std::make_unique<BuiltinStrategy>(std::string(group), std::string(kind), printers::TableFor(group, kind));
    }
    return reg;
  }();
  return *r;
}

}  // namespace

std::vector<TableColumn> Strategy::Columns() const { return {printers::NameColumn(), printers::AgeColumn()}; }

Json Strategy::Row(const Json& obj, SystemTime now) const {
  return Json::array({GetStringPath(obj, {"metadata", "name"}), AgeCell(obj, now)});
}

void AppendResolvedTimes(std::string& out, std::string_view text, SystemTime now) {
  static constexpr std::string_view kOpen = "\\u0001", kClose = "\\u0002";
  size_t pos = 0;
  while (true) {
    size_t open = text.find(kOpen, pos);
    if (open == std::string_view::npos) break;
    size_t digits = open + kOpen.size();
    size_t close = text.find(kClose, digits);
    if (close == std::string_view::npos) break;
    int64_t secs = 0;
    bool neg = false, ok = close > digits;
    for (size_t k = digits; k < close && ok; ++k) {
      char ch = text[k];
      if (k == digits && ch == '-') neg = true;
      else if (ch >= '0' && ch <= '9') secs = secs * 10 + (ch - '0');
      else ok = false;
    }
    out.append(text.substr(pos, open - pos));
    if (ok) {
      SystemTime t{std::chrono::seconds(neg ? -secs : secs)};
      out += HumanDuration(std::chrono::duration_cast<std::chrono::seconds>(now - t));
    } else {
      out.append(text.substr(open, close + kClose.size() - open));
    }
    pos = close + kClose.size();
  }
  out.append(text.substr(pos));
}

std::string ResolveDeferredTimes(std::string_view text, SystemTime now) {
  std::string out;
  out.reserve(text.size());
  AppendResolvedTimes(out, text, now);
  return out;
}

std::string AgeCell(const Json& obj, SystemTime now) { return printers::Since(obj, {"metadata", "creationTimestamp"}, now); }

const Strategy& StrategyFor(std::string_view group, std::string_view kind) {
  const Registry& r = Strategies();
  std::string key = std::string(group) + "/" + std::string(kind);
  auto it = r.by_key.find(key);
  if (it == r.by_key.end()) return r.generic;
  return *it->second;
}

}  // namespace tug::api
