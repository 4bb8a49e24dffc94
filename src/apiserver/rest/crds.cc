// CustomResourceDefinitions in the REST layer. See crds.h.
#include "apiserver/rest/crds.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <set>

#include "api/discovery.h"
#include "api/patch.h"
#include "apiserver/rest/handler.h"
#include "base/log.h"

namespace tug::apiserver::rest {
namespace {

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), ::tolower);
  return s;
}

std::string MediaTypeOf(const std::string& ct) {
  std::string t = ct.substr(0, ct.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return Lower(t);
}

// True when some schema object in s has a "default".
bool HasDefaults(const Json& s) {
  if (s.is_object()) {
    for (auto it = s.begin(); it != s.end(); ++it) {
      if (it.key() == "default") return true;
      if (HasDefaults(it.value())) return true;
    }
  } else if (s.is_array()) {
    for (const Json& e : s)
      if (HasDefaults(e)) return true;
  }
  return false;
}

// Paths of members of `have` that `kept` lacks (kept is `have` after pruning).
void Dropped(const Json& have, const Json& kept, const std::string& path, std::vector<std::string>& out) {
  if (have.is_object() && kept.is_object()) {
    for (auto it = have.begin(); it != have.end(); ++it) {
      std::string p = path.empty() ? it.key() : path + "." + it.key();
      auto k = kept.find(it.key());
      if (k == kept.end()) out.push_back(p);
      else Dropped(it.value(), *k, p, out);
    }
  } else if (have.is_array() && kept.is_array() && have.size() == kept.size()) {
    for (size_t i = 0; i < have.size(); ++i) Dropped(have[i], kept[i], path + "[" + std::to_string(i) + "]", out);
  }
}

// ".spec.replicas" -> {"spec", "replicas"}.
std::vector<std::string> PathParts(const std::string& path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '.') { ++i; continue; }
    size_t j = path.find('.', i);
    if (j == std::string::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

void SetPath(Json& obj, const std::string& path, Json value) {
  Json* cur = &obj;
  auto parts = PathParts(path);
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!cur->is_object()) *cur = Json::object();
    if (i + 1 == parts.size()) {
      (*cur)[parts[i]] = std::move(value);
      return;
    }
    cur = &(*cur)[parts[i]];
  }
}

Json Condition(const std::string& type, const std::string& status, const std::string& reason,
               const std::string& message, const std::string& now) {
  return {{"type", type}, {"status", status}, {"lastTransitionTime", now}, {"reason", reason}, {"message", message}};
}

// Sets (or replaces) a condition, keeping lastTransitionTime when the status is unchanged.
void SetCondition(Json& status, Json cond) {
  Json& conds = status["conditions"];
  if (!conds.is_array()) conds = Json::array();
  for (Json& c : conds) {
    if (GetString(c, "type") != GetString(cond, "type")) continue;
    if (GetString(c, "status") == GetString(cond, "status")) cond["lastTransitionTime"] = c.value("lastTransitionTime", Json());
    c = std::move(cond);
    return;
  }
  conds.push_back(std::move(cond));
}

// The CRD objects' strategy: the built-in one (defaults, Created At table, metadata rules) plus
// the CRD rules of api/crd.
class CrdDefStrategy final : public api::Strategy {
 public:
  CrdDefStrategy() : base_(api::StrategyFor(kCrdGroup, "CustomResourceDefinition")) {}
  void Default(Json& obj) const override { base_.Default(obj); }
  void PrepareForCreate(Json& obj) const override {
    base_.PrepareForCreate(obj);
    if (obj.is_object()) obj.erase("status");
  }
  void PrepareForUpdate(Json& obj, const Json& old) const override {
    base_.PrepareForUpdate(obj, old);
    if (const Json* st = Find(old, "status")) obj["status"] = *st;
    else obj.erase("status");
  }
  api::FieldErrors Validate(const Json& obj) const override {
    api::FieldErrors errs = base_.Validate(obj);
    for (auto& e : api::crd::ValidateCrd(obj)) {
      bool dup = std::any_of(errs.begin(), errs.end(), [&](const api::FieldError& x) { return x.ToString() == e.ToString(); });
      if (!dup) errs.push_back(std::move(e));
    }
    return errs;
  }
  api::FieldErrors ValidateUpdate(const Json& obj, const Json& old) const override {
    // ValidateCrdUpdate repeats ValidateCrd (already reported by Validate): keep the rest.
    api::FieldErrors all = api::crd::ValidateCrdUpdate(obj, old);
    api::FieldErrors plain = api::crd::ValidateCrd(obj);
    api::FieldErrors out = base_.ValidateUpdate(obj, old);
    for (auto& e : all) {
      bool seen = std::any_of(plain.begin(), plain.end(), [&](const api::FieldError& x) { return x.ToString() == e.ToString(); });
      if (!seen) out.push_back(std::move(e));
    }
    return out;
  }
  std::vector<api::TableColumn> Columns() const override { return base_.Columns(); }
  Json Row(const Json& obj, SystemTime now) const override { return base_.Row(obj, now); }

 private:
  const api::Strategy& base_;
};

}  // namespace

bool IsCrdResource(const api::ResourceDef& res) {
  return res.group == kCrdGroup && res.plural == "customresourcedefinitions";
}

const api::Strategy& CrdDefinitionStrategy() {
  static const CrdDefStrategy* s = new CrdDefStrategy();
  return *s;
}

// ---------------------------------------------------------------------------------------------
// CustomResourceStrategy

CustomResourceStrategy::CustomResourceStrategy(const Json& crd, const api::ResourceDef& res)
    : schema_(api::crd::SchemaFor(crd, res.version)),
      columns_(api::crd::ColumnsFor(crd, res.version)),
      crd_name_(GetStringPath(crd, {"metadata", "name"})),
      namespaced_(res.namespaced) {
  has_defaults_ = HasDefaults(schema_.schema);
  terminating_ = FindPath(crd, {"metadata", "deletionTimestamp"}) != nullptr;
  if (const Json* v = api::crd::FindVersion(crd, res.version)) {
    if (const Json* sub = Find(*v, "subresources"); sub && sub->is_object()) {
      has_status_ = sub->contains("status");
      if (const Json* sc = Find(*sub, "scale"); sc && sc->is_object()) {
        has_scale_ = true;
        spec_replicas_path_ = GetString(*sc, "specReplicasPath");
        status_replicas_path_ = GetString(*sc, "statusReplicasPath");
        label_selector_path_ = GetString(*sc, "labelSelectorPath");
      }
    }
  }
}

void CustomResourceStrategy::PrepareForCreate(Json& obj) const {
  if (has_status_ && obj.is_object()) obj.erase("status");
}

void CustomResourceStrategy::PrepareForUpdate(Json& obj, const Json& old) const {
  if (!has_status_ || !obj.is_object()) return;
  if (const Json* st = Find(old, "status")) obj["status"] = *st;
  else obj.erase("status");
}

void CustomResourceStrategy::Default(Json& obj) const { api::crd::DefaultAndPrune(schema_, obj); }

api::FieldErrors CustomResourceStrategy::Validate(const Json& obj) const {
  api::FieldErrors errs = api::ValidateObjectMeta(obj, namespaced_);
  for (auto& e : api::crd::ValidateCustomObject(schema_, obj)) errs.push_back(std::move(e));
  return errs;
}

std::vector<api::TableColumn> CustomResourceStrategy::Columns() const { return api::crd::TableColumns(columns_); }

Json CustomResourceStrategy::Row(const Json& obj, SystemTime now) const { return api::crd::CrdRow(columns_, obj, now); }

std::vector<std::string> CustomResourceStrategy::UnknownFields(const Json& obj) const {
  std::vector<std::string> out;
  if (!schema_.schema.is_object() || schema_.schema.empty()) return out;
  Json kept = obj;
  api::crd::DefaultAndPrune(schema_, kept);
  Dropped(obj, kept, "", out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// ApiSnapshot

const CustomResourceStrategy* ApiSnapshot::CustomStrategy(const api::ResourceDef& res) const {
  auto it = custom.find(res.group + "/" + res.version + "/" + res.plural);
  return it == custom.end() ? nullptr : it->second.get();
}

const api::ResourceDef* ApiSnapshot::UnservedStorage(const api::ResourceDef& served) const {
  auto it = unserved_storage.find(served.storage_group + "/" + served.storage_version + "/" + served.plural);
  return it == unserved_storage.end() ? nullptr : it->second.get();
}

const api::OpenApiV3& ApiSnapshot::OpenApiV3() const {
  std::call_once(v3_once_, [&] { v3_ = api::BuildOpenApiV3(*reg); });
  return v3_;
}

const api::OpenApiV2& ApiSnapshot::OpenApiV2() const {
  std::call_once(v2_once_, [&] { v2_ = api::BuildOpenApiV2(*reg); });
  return v2_;
}

std::string ETagOf(const std::string& body) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char ch : body) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return "\"" + std::string(buf) + "\"";
}

std::shared_ptr<const ApiSnapshot> ApiSnapshot::Build(std::shared_ptr<const api::Registry> reg,
                                                      const std::vector<Json>& crds, const std::string& server_address) {
  (void)server_address;
  auto s = std::make_shared<ApiSnapshot>();
  s->reg = std::move(reg);
  s->legacy_apis = DumpJson(api::ApiGroupList(*s->reg));
  s->etags["legacy_apis"] = ETagOf(s->legacy_apis);
  for (const char* v : {"v2", "v2beta1"}) {
    for (bool core : {true, false}) {
      std::string key = std::string(core ? "core/" : "apis/") + v;
      s->aggregated[key] = DumpJson(api::AggregatedDiscovery(*s->reg, core, v));
      s->etags[key] = ETagOf(s->aggregated[key]);
    }
  }
  for (const Json& crd : crds) {
    std::string group = GetStringPath(crd, {"spec", "group"});
    std::string plural = GetStringPath(crd, {"spec", "names", "plural"});
    for (const auto& r : s->reg->Resources()) {
      if (r->group != group || r->plural != plural) continue;
      s->custom[r->group + "/" + r->version + "/" + r->plural] = std::make_unique<CustomResourceStrategy>(crd, *r);
      if (r->IsStorageVersion() || s->reg->ByResource(r->storage_group, r->storage_version, r->plural)) continue;
      // Served only in other versions: a definition of the storage version for conversion
      // (with conversion strategy None only apiVersion differs; the served version's schema
      // type stands in for the storage version's).
      std::string key = r->storage_group + "/" + r->storage_version + "/" + r->plural;
      if (s->unserved_storage.count(key)) continue;
      auto def = std::make_unique<api::ResourceDef>(*r);
      def->version = r->storage_version;
      def->group = r->storage_group;
      s->unserved_storage.emplace(std::move(key), std::move(def));
    }
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// CrdController

CrdController::CrdController(std::function<bool()> reconcile) : reconcile_(std::move(reconcile)) {
  thread_ = std::thread([this] { Loop(); });
}

CrdController::~CrdController() { Stop(); }

void CrdController::Kick() {
  std::lock_guard<std::mutex> lock(mu_);
  pending_ = true;
  cv_.notify_all();
}

void CrdController::Drain() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::seconds(10), [&] { return stop_ || (!pending_ && !running_); });
}

void CrdController::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void CrdController::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    if (!pending_) {
      if (retry_) cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || pending_; });
      else cv_.wait(lock, [&] { return stop_ || pending_; });
      if (stop_) break;
    }
    pending_ = false;
    running_ = true;
    lock.unlock();
    bool done = reconcile_();
    lock.lock();
    running_ = false;
    retry_ = !done;
    cv_.notify_all();
  }
}

// ---------------------------------------------------------------------------------------------
// RestHandlerImpl: the CRD side of the handler.

namespace {

class KickWatcher final : public CacheWatcher {
 public:
  explicit KickWatcher(CrdController* ctl) : ctl_(ctl) {}
  bool OnEvent(const CacheEvent&) override {
    ctl_->Kick();
    return true;
  }

 private:
  CrdController* ctl_;
};

bool HasFinalizer(const Json& obj, std::string_view name) {
  const Json* f = FindPath(obj, {"metadata", "finalizers"});
  if (!f || !f->is_array()) return false;
  for (const Json& e : *f)
    if (e.is_string() && e.get<std::string>() == name) return true;
  return false;
}

}  // namespace

void AddCrdCleanupFinalizer(const api::ResourceDef& res, const Json& obj, Json& fins) {
  if (!IsCrdResource(res) || FindPath(obj, {"metadata", "deletionTimestamp"})) return;
  if (std::find(fins.begin(), fins.end(), Json(kCrdCleanupFinalizer)) == fins.end()) fins.push_back(kCrdCleanupFinalizer);
}

std::shared_ptr<const ApiSnapshot> RestHandlerImpl::Api() const {
  std::lock_guard<std::mutex> lock(api_mu_);
  return api_;
}

const api::Registry& RestHandlerImpl::RegOf(const Ctx& c) const { return c.api ? *c.api->reg : *reg_; }

Status RestHandlerImpl::EnsureCaches(const api::Registry& reg) {
  for (const auto& r : reg.Resources()) {
    if (r->virtual_resource) continue;
    std::string p = Prefix(*r);
    {
      std::lock_guard<std::mutex> lock(caches_mu_);
      if (caches_.count(p)) continue;
    }
    auto cache = std::make_unique<WatchCache>(store_, p);
    RETURN_IF_ERROR(cache->Start());
    std::lock_guard<std::mutex> lock(caches_mu_);
    caches_.emplace(p, std::move(cache));  // a concurrent insert of the same prefix keeps the first
  }
  return Status::Ok();
}

Status RestHandlerImpl::StartCrds() {
  {
    std::lock_guard<std::mutex> lock(api_mu_);
    api_ = ApiSnapshot::Build(reg_, {}, opts_.server_address);
  }
  const api::ResourceDef* crd_res = reg_->ByResource(kCrdGroup, "v1", "customresourcedefinitions");
  if (!crd_res) return Status::Ok();
  // CRDs are served before the handler is ready (restart).
  ReconcileCrds();
  crd_ctl_ = std::make_unique<CrdController>([this] { return ReconcileCrds(); });
  WatchCache* cache = CacheFor(*crd_res);
  if (!cache) return InternalError("no watch cache for customresourcedefinitions");
  int64_t start = 0;
  ASSIGN_OR_RETURN(crd_watch_id_, cache->AddWatcher(cache->Revision(), std::make_shared<KickWatcher>(crd_ctl_.get()), &start));
  crd_ctl_->Kick();  // anything written between the first reconcile and the watch
  return Status::Ok();
}

Status RestHandlerImpl::PrepareCustom(Ctx& c, const std::string& verb) {
  if (IsCrdResource(*c.res)) {
    c.strat = &CrdDefinitionStrategy();
    return Status::Ok();
  }
  if (!c.api) return Status::Ok();
  const CustomResourceStrategy* s = c.api->CustomStrategy(Served(c));
  if (!s) return Status::Ok();
  c.custom = s;
  c.strat = s;
  if (verb == "create" && s->terminating())
    return Status(StatusCode::kMethodNotAllowed, "create not allowed while custom resource definition is terminating");
  // Stored objects are defaulted on read (a schema may have gained defaults since they were
  // written): route responses through the served-object path.
  if (s->has_defaults() && !c.served) c.served = c.res;
  return Status::Ok();
}

bool RestHandlerImpl::ReconcileCrds() {
  std::lock_guard<std::mutex> reconcile_lock(crd_reconcile_mu_);
  const api::ResourceDef* crd_res = reg_->ByResource(kCrdGroup, "v1", "customresourcedefinitions");
  WatchCache* cache = crd_res ? CacheFor(*crd_res) : nullptr;
  if (!cache) return true;
  cache->WaitForRevision(std::max(cache->LastWrite(), store_.CurrentRevision()), std::chrono::seconds(3));
  struct Item {
    std::string key;
    int64_t rv;
    Json obj;
  };
  std::vector<Item> items;
  for (const auto& o : cache->Snapshot(Prefix(*crd_res), nullptr)) {
    auto j = ParseJson(o->Bytes());
    if (j.ok()) items.push_back({o->key, o->rv, std::move(j).value()});
  }
  // Names already accepted stay accepted; among new CRDs the oldest wins a name conflict.
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    bool ea = api::crd::IsEstablished(a.obj), eb = api::crd::IsEstablished(b.obj);
    if (ea != eb) return ea;
    std::string ta = GetStringPath(a.obj, {"metadata", "creationTimestamp"});
    std::string tb = GetStringPath(b.obj, {"metadata", "creationTimestamp"});
    return ta != tb ? ta < tb : a.key < b.key;
  });

  // 1. Names and establishment, each CRD checked against the built-ins and the CRDs accepted
  //    before it.
  std::shared_ptr<const api::Registry> check = reg_;
  std::vector<Json> established;
  std::vector<std::string> unchecked_groups;  // groups of accepted CRDs not yet in `check`
  std::vector<Json> statuses(items.size());
  std::string fingerprint;
  const std::string now = Now();
  for (size_t i = 0; i < items.size(); ++i) {
    const Json& crd = items[i].obj;
    std::string group = GetStringPath(crd, {"spec", "group"});
    if (std::find(unchecked_groups.begin(), unchecked_groups.end(), group) != unchecked_groups.end()) {
      auto r = api::crd::WithCrds(*reg_, established);
      if (r.ok()) check = *r;
      unchecked_groups.clear();
    }
    Json st = api::crd::CrdStatusFor(crd, *check, clock_->Now());
    bool deleting = FindPath(crd, {"metadata", "deletionTimestamp"}) != nullptr;
    if (deleting) {
      SetCondition(st, Condition("Terminating", "True", "InstanceDeletionInProgress", "CustomResource deletion is in progress", now));
    }
    statuses[i] = st;
    Json with_status = crd;
    with_status["status"] = st;
    if (!api::crd::IsEstablished(with_status)) continue;
    if (!api::crd::ValidateCrd(crd).empty()) continue;  // never serve what cannot be served
    established.push_back(with_status);
    unchecked_groups.push_back(group);
    fingerprint += DumpJson(crd["spec"]) + (deleting ? "T" : "") + "\n";
  }

  // 2. Serve the established set (before reporting Established, so a client that saw the
  //    condition finds the resource).
  if (fingerprint != published_crds_) {
    auto reg = api::crd::WithCrds(*reg_, established);
    if (!reg.ok()) {
      TUG_LOG(ERROR, "rest") << "cannot serve custom resources" << kv("err", reg.status().ToString());
    } else {
      Status st = EnsureCaches(**reg);
      if (!st.ok()) {
        TUG_LOG(ERROR, "rest") << "custom resource watch caches" << kv("err", st.ToString());
        return false;
      }
      auto snap = ApiSnapshot::Build(*reg, established, opts_.server_address);
      {
        std::lock_guard<std::mutex> lock(api_mu_);
        api_ = snap;
      }
      published_crds_ = fingerprint;
      // Watches of custom resources no longer served end (as upstream tears down the storage of
      // a deleted CRD or an unserved version); clients re-discover and re-list.
      EndWatchesIf([&](const Ctx& c) { return c.custom && !snap->CustomStrategy(Served(c)); });
      TUG_LOG(INFO, "rest") << "custom resources published" << kv("crds", established.size());
    }
  }

  // 3. Status, then the cleanup of deleted CRDs.
  bool done = true;
  std::set<std::string> cleaning;  // instance prefixes of terminating CRDs
  for (size_t i = 0; i < items.size(); ++i) {
    Item& it = items[i];
    int64_t rv = it.rv;
    if (it.obj.value("status", Json()) != statuses[i]) {
      Json obj = it.obj;
      obj["status"] = statuses[i];
      if (obj.contains("metadata")) obj["metadata"].erase("resourceVersion");
      auto up = store_.Update(it.key, std::make_shared<const std::string>(DumpJson(obj)), rv);
      if (!up.ok()) {
        done = false;  // changed meanwhile: the watch kicks us again
        continue;
      }
      NoteWrite(*crd_res, *up);
      rv = *up;
      it.obj = std::move(obj);
    }
    if (!FindPath(it.obj, {"metadata", "deletionTimestamp"}) || !HasFinalizer(it.obj, kCrdCleanupFinalizer)) continue;
    // Delete every instance (all versions share the storage prefix); instances with finalizers
    // get a deletionTimestamp and are waited for.
    std::string prefix = "/registry/" + GetStringPath(it.obj, {"spec", "group"}) + "/" +
                         GetStringPath(it.obj, {"spec", "names", "plural"}) + "/";
    auto listed = store_.List(prefix, {});
    if (!listed.ok()) {
      done = false;
      continue;
    }
    WatchCache* ccache = nullptr;
    {
      std::lock_guard<std::mutex> lock(caches_mu_);
      auto c = caches_.find(prefix);
      if (c != caches_.end()) ccache = c->second.get();
    }
    // Instances going away (their finalizers removed by others) wake the cleanup up.
    cleaning.insert(prefix);
    if (ccache && crd_ctl_ && !cleanup_watches_.count(prefix)) {
      int64_t start = 0;
      auto id = ccache->AddWatcher(ccache->Revision(), std::make_shared<KickWatcher>(crd_ctl_.get()), &start);
      if (id.ok()) cleanup_watches_[prefix] = *id;
    }
    size_t remaining = 0;
    for (const auto& kvp : listed->items) {
      auto obj = ParseJson(*kvp.value);
      if (!obj.ok()) continue;
      const Json* f = FindPath(*obj, {"metadata", "finalizers"});
      if (f && f->is_array() && !f->empty()) {
        ++remaining;
        if (FindPath(*obj, {"metadata", "deletionTimestamp"})) continue;
        (*obj)["metadata"]["deletionTimestamp"] = now;
        (*obj)["metadata"]["deletionGracePeriodSeconds"] = 0;
        auto up = store_.Update(kvp.key, std::make_shared<const std::string>(DumpJson(*obj)), kvp.mod_revision);
        if (up.ok() && ccache) ccache->NoteWrite(*up);
        continue;
      }
      auto del = store_.Delete(kvp.key, kvp.mod_revision);
      if (del.ok()) {
        if (ccache) ccache->NoteWrite(del->mod_revision);
      } else if (del.status().code() != StatusCode::kNotFound) {
        ++remaining;
      }
    }
    if (remaining > 0) {
      done = false;
      continue;
    }
    // Every instance is gone: drop the finalizer; the CRD goes with its last finalizer.
    Json obj = it.obj;
    Json fins = Json::array();
    for (const Json& f : obj["metadata"]["finalizers"])
      if (f != Json(kCrdCleanupFinalizer)) fins.push_back(f);
    SetCondition(obj["status"], Condition("Terminating", "True", "InstanceDeletionCompleted", "removed all instances", now));
    if (fins.empty()) {
      auto del = store_.Delete(it.key, rv);
      if (del.ok()) {
        NoteWrite(*crd_res, del->mod_revision);
        TUG_LOG(INFO, "rest") << "custom resource definition deleted" << kv("crd", GetStringPath(obj, {"metadata", "name"}));
      } else {
        done = false;
      }
      continue;
    }
    obj["metadata"]["finalizers"] = fins;
    obj["metadata"].erase("resourceVersion");
    auto up = store_.Update(it.key, std::make_shared<const std::string>(DumpJson(obj)), rv);
    if (up.ok()) NoteWrite(*crd_res, *up);
    else done = false;
  }
  for (auto w = cleanup_watches_.begin(); w != cleanup_watches_.end();) {
    if (cleaning.count(w->first)) {
      ++w;
      continue;
    }
    std::lock_guard<std::mutex> lock(caches_mu_);
    if (auto c = caches_.find(w->first); c != caches_.end()) c->second->RemoveWatcher(w->second);
    w = cleanup_watches_.erase(w);
  }
  return done;
}

Result<RestHandlerImpl::Reply> RestHandlerImpl::CustomScale(const Request& req, Ctx& c) {
  const CustomResourceStrategy& s = *c.custom;
  std::string key = Key(*c.res, c.ns, c.name);
  auto to_scale = [&](const Json& obj) {
    const Json& m = obj["metadata"];
    Json meta = Json::object();
    for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"})
      if (const Json* v = Find(m, f)) meta[f] = *v;
    Json spec = Json::object();
    if (const Json* r = api::crd::EvalJsonPath(obj, s.spec_replicas_path()); r && r->is_number_integer())
      spec["replicas"] = *r;
    Json status = {{"replicas", 0}};
    if (const Json* r = api::crd::EvalJsonPath(obj, s.status_replicas_path()); r && r->is_number_integer())
      status["replicas"] = *r;
    if (!s.label_selector_path().empty())
      if (const Json* sel = api::crd::EvalJsonPath(obj, s.label_selector_path()); sel && sel->is_string())
        status["selector"] = *sel;
    return Json{{"kind", "Scale"}, {"apiVersion", "autoscaling/v1"}, {"metadata", meta}, {"spec", spec}, {"status", status}};
  };
  const api::TypeDef* scale_type = reg_->KindType("autoscaling", "v1", "Scale");
  for (int attempt = 0;; ++attempt) {
    ASSIGN_OR_RETURN(Loaded l, Load(c, key));
    Json cur = to_scale(l.obj);
    if (req.method == "GET") return Reply{200, DumpJson(cur)};
    Json want;
    if (req.method == "PUT") {
      ASSIGN_OR_RETURN(want, DecodeBody(req, c, scale_type, "autoscaling/v1", "Scale"));
    } else {
      std::string ct = MediaTypeOf(req.Header("Content-Type"));
      ASSIGN_OR_RETURN(Json patch, ParseJson(req.body));
      Result<Json> p = Status::Ok();
      if (ct == "application/json-patch+json") p = api::ApplyJsonPatch(cur, patch);
      else if (ct == "application/merge-patch+json") p = api::ApplyMergePatch(cur, patch);
      else if (ct == "application/strategic-merge-patch+json") p = api::ApplyStrategicMergePatch(cur, patch, scale_type);
      else
        return Status(StatusCode::kUnsupportedMediaType,
                      "the body of the request was in an unknown format - accepted media types include: "
                      "application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json");
      if (!p.ok()) return p.status();
      want = std::move(p).value();
    }
    std::string want_rv = GetStringPath(want, {"metadata", "resourceVersion"});
    if (!want_rv.empty() && want_rv != std::to_string(l.mod_rev)) return ConflictModified(*c.res, c.name);
    const Json* rep = FindPath(want, {"spec", "replicas"});
    if (rep && !rep->is_number_integer()) return BadRequestError("spec.replicas must be an integer");
    int64_t replicas = rep ? rep->get<int64_t>() : 0;
    if (replicas < 0) {
      api::FieldErrors errs{api::FieldError::Invalid("spec.replicas", replicas, "should be greater than or equal to 0")};
      return api::InvalidStatus("Scale.autoscaling", "autoscaling", "Scale", c.name, errs);
    }
    Json obj = l.obj;
    SetPath(obj, s.spec_replicas_path(), replicas);
    bool wrote = false;
    Ctx upd = c;
    upd.sub = "";
    upd.managed_sub = "scale";
    auto r = UpdateObject(upd, l.obj, l.mod_rev, std::move(obj), &wrote);
    if (!r.ok() && r.status().code() == StatusCode::kConflict && want_rv.empty() && attempt < 5) continue;
    if (!r.ok()) return r.status();
    return Reply{200, DumpJson(to_scale(*r))};
  }
}

}  // namespace tug::apiserver::rest
