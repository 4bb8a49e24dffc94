#include "controllers/serviceaccount/service_account.h"

#include "base/log.h"

namespace tug::controllers::serviceaccount {
namespace {

using client::ObjectPtr;

constexpr char kDefault[] = "default";

class ServiceAccountController final : public framework::Controller {
 public:
  explicit ServiceAccountController(const framework::ControllerContext& ctx) : Controller("serviceaccount", ctx) {
    ns_ = &Informer(client::kNamespaces);
    sa_ = &Informer(client::kServiceAccounts);
    ns_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& o) { Enqueue(*o); },
        .on_update = [this](const ObjectPtr&, const ObjectPtr& n) { Enqueue(*n); },
        .on_delete = {},
    });
    sa_->AddHandler(client::EventHandler{
        .on_add = {},
        .on_update = {},
        .on_delete = [this](const ObjectPtr& sa) {
          if (GetStringPath(*sa, {"metadata", "name"}) == kDefault) Enqueue(GetStringPath(*sa, {"metadata", "namespace"}));
        },
    });
  }

 protected:
  Status Sync(const std::string& ns) override {
    ObjectPtr n = ns_->Get(ns);
    if (!n || framework::IsBeingDeleted(*n)) return Status::Ok();
    if (GetStringPath(*n, {"status", "phase"}) == "Terminating") return Status::Ok();
    if (sa_->Get(ns + "/" + kDefault)) return Status::Ok();
    Json sa = {{"apiVersion", "v1"}, {"kind", "ServiceAccount"}, {"metadata", {{"name", kDefault}, {"namespace", ns}}}};
    auto r = client().Create(client::kServiceAccounts, ns, sa);
    if (!r.ok()) {
      StatusCode c = r.status().code();
      // Already there (the cache is behind), or the namespace is going away.
      if (c == StatusCode::kAlreadyExists || c == StatusCode::kNotFound || c == StatusCode::kForbidden) return Status::Ok();
      return r.status();
    }
    TUG_VLOG(2, "serviceaccount") << "created default service account" << kv("namespace", ns);
    return Status::Ok();
  }

 private:
  client::Informer* ns_;
  client::Informer* sa_;
};

}  // namespace

std::unique_ptr<framework::Controller> NewServiceAccountController(const framework::ControllerContext& ctx) {
  return std::make_unique<ServiceAccountController>(ctx);
}

}  // namespace tug::controllers::serviceaccount
