#include "controllers/namespace/namespace.h"

#include <algorithm>
#include <map>
#include <set>

#include "api/schema.h"
#include "base/log.h"

namespace tug::controllers::namespaces {
namespace {

using client::ObjectPtr;

constexpr char kKubernetesFinalizer[] = "kubernetes";

bool HasSpecFinalizer(const Json& ns) {
  const Json* f = FindPath(ns, {"spec", "finalizers"});
  if (!f || !f->is_array()) return false;
  return std::find(f->begin(), f->end(), Json(kKubernetesFinalizer)) != f->end();
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

// The namespaced, deletable resources of API groups that the built-in registry does not have
// (CustomResourceDefinitions), by discovery at each group's preferred version, as upstream's
// ServerPreferredNamespacedResources. Discovery runs at every sync, so CRDs created or removed
// since are seen. Unreadable groups are reported in *failures (NamespaceDeletionDiscoveryFailure).
std::vector<client::Resource> DiscoverCustom(const client::Client& c, const api::Registry& builtin,
                                             std::vector<std::string>* failures) {
  std::vector<client::Resource> out;
  client::HttpRequest req;
  req.path = "/apis";
  auto groups = c.DoJson(req);
  if (!groups.ok()) {
    failures->push_back("/apis: " + groups.status().message());
    return out;
  }
  std::set<std::string> known;
  for (const auto& r : builtin.Resources()) known.insert(r->group);
  const Json* gs = Find(*groups, "groups");
  if (!gs || !gs->is_array()) return out;
  for (const Json& g : *gs) {
    std::string name = GetString(g, "name");
    if (known.count(name)) continue;
    const Json* pv = Find(g, "preferredVersion");
    std::string gv = pv ? GetString(*pv, "groupVersion") : "";
    if (gv.empty()) continue;
    req.path = "/apis/" + gv;
    auto list = c.DoJson(req);
    if (!list.ok()) {
      if (list.status().code() != StatusCode::kNotFound) failures->push_back(gv + ": " + list.status().message());
      continue;
    }
    const Json* rs = Find(*list, "resources");
    if (!rs || !rs->is_array()) continue;
    std::string version = gv.substr(gv.find('/') + 1);
    for (const Json& r : *rs) {
      std::string plural = GetString(r, "name");
      if (plural.empty() || plural.find('/') != std::string::npos) continue;  // subresources
      const Json* ns = Find(r, "namespaced");
      if (!ns || !ns->is_boolean() || !ns->get<bool>()) continue;
      bool list_verb = false, delete_verb = false;
      if (const Json* vs = Find(r, "verbs"); vs && vs->is_array())
        for (const Json& v : *vs) {
          list_verb |= v == Json("list");
          delete_verb |= v == Json("delete");
        }
      if (!list_verb || !delete_verb) continue;
      out.push_back(client::Resource{name, version, plural, GetString(r, "kind"), true});
    }
  }
  return out;
}

class NamespaceController final : public framework::Controller {
 public:
  NamespaceController(const framework::ControllerContext& ctx, NamespaceOptions opts,
                      std::shared_ptr<const api::Registry> reg)
      : Controller("namespace", ctx), opts_(opts), registry_(std::move(reg)) {
    std::set<std::string> seen;
    for (const auto& r : registry_->Resources()) {
      if (!r->namespaced || r->virtual_resource) continue;
      if (!r->IsStorageVersion()) continue;  // one version per collection
      if (!r->HasVerb("list") || !r->HasVerb("delete")) continue;
      if (!seen.insert(r->group + "/" + r->plural).second) continue;
      resources_.push_back(client::Resource{r->group, r->version, r->plural, r->kind, true});
    }
    ns_ = &Informer(client::kNamespaces);
    ns_->AddHandler(client::EventHandler{
        .on_add = [this](const ObjectPtr& o) {
          if (framework::IsBeingDeleted(*o)) Enqueue(*o);
        },
        .on_update = [this](const ObjectPtr&, const ObjectPtr& n) {
          if (framework::IsBeingDeleted(*n)) Enqueue(*n);
        },
        .on_delete = {},
    });
  }

 protected:
  Status Sync(const std::string& name) override;

 private:
  Status UpdateConditions(const Json& ns, const std::vector<Json>& conds);

  NamespaceOptions opts_;
  std::shared_ptr<const api::Registry> registry_;
  std::vector<client::Resource> resources_;
  client::Informer* ns_;
};

Json Cond(const char* type, bool on, const char* reason_on, const std::string& msg_on, const char* reason_off,
          const char* msg_off, const std::string& now) {
  return Json{{"type", type},
              {"status", on ? "True" : "False"},
              {"reason", on ? reason_on : reason_off},
              {"message", on ? msg_on : std::string(msg_off)},
              {"lastTransitionTime", now}};
}

Status NamespaceController::UpdateConditions(const Json& ns, const std::vector<Json>& want) {
  // Upstream semantics: a condition with the same status, reason and message keeps its
  // lastTransitionTime; other condition types on the namespace are kept after ours.
  const Json* cur = FindPath(ns, {"status", "conditions"});
  Json next = Json::array();
  std::set<std::string> ours;
  for (const Json& w : want) {
    ours.insert(GetString(w, "type"));
    Json c = w;
    if (cur && cur->is_array())
      for (const Json& old : *cur)
        if (GetString(old, "type") == GetString(w, "type") && GetString(old, "status") == GetString(w, "status") &&
            GetString(old, "reason") == GetString(w, "reason") && GetString(old, "message") == GetString(w, "message"))
          c = old;
    next.push_back(std::move(c));
  }
  if (cur && cur->is_array())
    for (const Json& old : *cur)
      if (!ours.count(GetString(old, "type"))) next.push_back(old);
  if (cur && *cur == next) return Status::Ok();
  Json copy = ns;
  copy["status"]["conditions"] = next;
  auto r = client().UpdateStatus(client::kNamespaces, "", copy);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  return Status::Ok();
}

Status NamespaceController::Sync(const std::string& name) {
  // Upstream reads the namespace live: acting on a stale cached copy could finalize too early.
  auto got = client().Get(client::kNamespaces, "", name);
  if (!got.ok()) return got.status().code() == StatusCode::kNotFound ? Status::Ok() : got.status();
  Json ns = std::move(*got);
  if (!framework::IsBeingDeleted(ns) || !HasSpecFinalizer(ns)) return Status::Ok();

  std::vector<std::string> list_failures, delete_failures;
  std::map<std::string, int> remaining;   // "pods." -> count
  std::map<std::string, int> finalizers;  // finalizer -> count
  int64_t max_grace = 0;
  std::vector<client::Resource> resources = resources_;
  for (client::Resource& r : DiscoverCustom(client(), *registry_, &list_failures)) resources.push_back(std::move(r));
  for (const client::Resource& r : resources) {
    auto list = client().List(r, name);
    if (!list.ok()) {
      if (list.status().code() != StatusCode::kNotFound && list.status().code() != StatusCode::kMethodNotAllowed)
        list_failures.push_back(r.plural + "." + r.group + ": " + list.status().message());
      continue;
    }
    const Json* items = Find(*list, "items");
    if (!items || !items->is_array() || items->empty()) continue;
    int left = 0;
    for (const Json& item : *items) {
      if (!framework::IsBeingDeleted(item)) {
        client::DeleteOptions opts;
        opts.propagation_policy = "Background";
        opts.precondition_uid = GetStringPath(item, {"metadata", "uid"});
        auto d = client().Delete(r, name, GetStringPath(item, {"metadata", "name"}), opts);
        if (!d.ok()) {
          if (d.status().code() == StatusCode::kNotFound) continue;
          delete_failures.push_back(r.plural + "." + r.group + ": " + d.status().message());
          ++left;
          continue;
        }
        // The answer is the object when it stays (graceful deletion, finalizers), else a Status.
        if (GetString(*d, "kind") == "Status") continue;
        if (r.plural == "pods" && r.group.empty()) {
          int64_t g = framework::GetInt(*d, {"metadata", "deletionGracePeriodSeconds"});
          max_grace = std::max(max_grace, g);
        }
        ++left;
        if (const Json* fs = FindPath(*d, {"metadata", "finalizers"}); fs && fs->is_array())
          for (const Json& f : *fs)
            if (f.is_string()) ++finalizers[f.get<std::string>()];
        continue;
      }
      ++left;
      if (const Json* fs = FindPath(item, {"metadata", "finalizers"}); fs && fs->is_array())
        for (const Json& f : *fs)
          if (f.is_string()) ++finalizers[f.get<std::string>()];
    }
    if (left > 0) remaining[r.plural + "." + r.group] += left;
  }

  std::string now = FormatRFC3339(clock().Now());
  std::vector<std::string> rem, fin;
  for (const auto& [res, n] : remaining) rem.push_back(res + " has " + std::to_string(n) + " resource instances");
  for (const auto& [f, n] : finalizers) fin.push_back(f + " in " + std::to_string(n) + " resource instances");
  std::vector<Json> conds = {
      Cond("NamespaceDeletionDiscoveryFailure", !list_failures.empty(), "DiscoveryFailed",
           "Discovery failed for some groups, " + std::to_string(list_failures.size()) + " failing: " + Join(list_failures),
           "ResourcesDiscovered", "All resources successfully discovered", now),
      Cond("NamespaceDeletionGroupVersionParsingFailure", false, "", "", "ParsedGroupVersions",
           "All legacy kube types successfully parsed", now),
      Cond("NamespaceDeletionContentFailure", !delete_failures.empty(), "ContentDeletionFailed",
           "Failed to delete all resource types, " + std::to_string(delete_failures.size()) + " remaining: " +
               Join(delete_failures),
           "ContentDeleted", "All content successfully deleted, may be waiting on finalization", now),
      Cond("NamespaceContentRemaining", !remaining.empty(), "SomeResourcesRemain",
           "Some resources are remaining: " + Join(rem), "ContentRemoved", "All content successfully removed", now),
      Cond("NamespaceFinalizersRemaining", !finalizers.empty(), "SomeFinalizersRemain",
           "Some content in the namespace has finalizers remaining: " + Join(fin), "ContentHasNoFinalizers",
           "All content-preserving finalizers finished", now),
  };
  bool done = remaining.empty() && list_failures.empty() && delete_failures.empty();
  if (!done) {
    RETURN_IF_ERROR(UpdateConditions(ns, conds));
    auto wait = std::max(opts_.recheck, std::chrono::milliseconds(std::min<int64_t>(max_grace, 5) * 1000));
    EnqueueAfter(name, wait);
    if (!list_failures.empty() || !delete_failures.empty())
      return UnavailableError("namespace " + name + ": content deletion incomplete");
    return Status::Ok();
  }

  // Everything is gone: drop our finalizer; the API server then removes the namespace.
  Json fin_obj = ns;
  Json keep = Json::array();
  for (const Json& f : ns["spec"]["finalizers"])
    if (f != Json(kKubernetesFinalizer)) keep.push_back(f);
  fin_obj["spec"]["finalizers"] = keep;
  client::HttpRequest req;
  req.method = "PUT";
  req.path = client::kNamespaces.Path("", name, "finalize");
  req.content_type = "application/json";
  req.body = DumpJson(fin_obj);
  auto r = client().DoJson(req);
  if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
  TUG_VLOG(2, "namespace") << "namespace finalized" << kv("namespace", name);
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<framework::Controller>> NewNamespaceController(const framework::ControllerContext& ctx,
                                                                      NamespaceOptions opts) {
  ASSIGN_OR_RETURN(auto reg, api::Registry::Builtin());
  return std::unique_ptr<framework::Controller>(std::make_unique<NamespaceController>(ctx, opts, std::move(reg)));
}

}  // namespace tug::controllers::namespaces
