#include "controllers/rootcacert/root_ca_cert.h"

#include "base/log.h"

namespace tug::controllers::rootcacert {
namespace {

using client::ObjectPtr;

constexpr char kDescription[] =
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the "
    "internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes "
    "clusters.";

class RootCaCertPublisher final : public framework::Controller {
 public:
  explicit RootCaCertPublisher(const framework::ControllerContext& ctx)
      : Controller("root-ca-cert-publisher", ctx), ca_(ctx.root_ca_pem) {
    ns_ = &Informer(client::kNamespaces);
    cm_ = &Informer(client::kConfigMaps);
    ns_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& o) { Enqueue(*o); },
        .on_update = [this](const ObjectPtr&, const ObjectPtr& n) { Enqueue(*n); },
        .on_delete = {},
    });
    auto mine = [this](const ObjectPtr& cm) {
      if (GetStringPath(*cm, {"metadata", "name"}) == kConfigMapName) Enqueue(GetStringPath(*cm, {"metadata", "namespace"}));
    };
    cm_->AddHandler(client::EventHandler{
        .on_add = {},
        .on_update = [mine](const ObjectPtr&, const ObjectPtr& n) { mine(n); },
        .on_delete = mine,
    });
  }

 protected:
  Status Sync(const std::string& ns) override {
    ObjectPtr n = ns_->Get(ns);
    if (!n || framework::IsBeingDeleted(*n) || GetStringPath(*n, {"status", "phase"}) == "Terminating")
      return Status::Ok();
    Json data = {{"ca.crt", ca_}};
    ObjectPtr cm = cm_->Get(ns + "/" + kConfigMapName);
    if (!cm) {
      Json obj = {{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", {{"name", kConfigMapName}, {"namespace", ns}, {"annotations", {{kDescriptionAnnotation, kDescription}}}}},
                  {"data", data}};
      auto r = client().Create(client::kConfigMaps, ns, obj);
      if (!r.ok()) {
        StatusCode c = r.status().code();
        // The namespace is gone or terminating: nothing to publish. AlreadyExists: the cache is
        // behind; the add event brings the object back here.
        if (c == StatusCode::kNotFound || c == StatusCode::kForbidden || c == StatusCode::kAlreadyExists)
          return Status::Ok();
        return r.status();
      }
      TUG_VLOG(2, "root-ca-cert-publisher") << "published root CA" << kv("namespace", ns);
      return Status::Ok();
    }
    const Json* have = Find(*cm, "data");
    if (have && *have == data && !GetStringPath(*cm, {"metadata", "annotations", kDescriptionAnnotation}).empty())
      return Status::Ok();
    Json obj = *cm;  // a copy: cached snapshots are shared and immutable
    obj["data"] = data;
    obj["metadata"]["annotations"][kDescriptionAnnotation] = kDescription;
    auto r = client().Update(client::kConfigMaps, ns, obj);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
    return Status::Ok();
  }

 private:
  std::string ca_;
  client::Informer* ns_;
  client::Informer* cm_;
};

}  // namespace

std::unique_ptr<framework::Controller> NewRootCaCertPublisher(const framework::ControllerContext& ctx) {
  if (ctx.root_ca_pem.empty()) return nullptr;
  return std::make_unique<RootCaCertPublisher>(ctx);
}

}  // namespace tug::controllers::rootcacert
