#include "controllers/endpoints/endpointslice_controller.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "base/log.h"
#include "controllers/endpoints/util.h"

namespace tug::controllers::endpoints {
namespace {

using client::ObjectPtr;

// --- desired state -------------------------------------------------------------------------

// The slice ports of a pod: one per Service port whose targetPort the pod has.
Json EndpointPorts(const Json& service, const Json& pod) {
  Json out = Json::array();
  const Json* ports = FindPath(service, {"spec", "ports"});
  if (!ports || !ports->is_array()) return out;
  for (const Json& sp : *ports) {
    auto num = FindPort(pod, sp);
    if (!num.ok()) continue;
    Json p = {{"name", GetString(sp, "name")}, {"port", *num}, {"protocol", PortProtocol(sp)}};
    if (const Json* ap = Find(sp, "appProtocol"); ap && ap->is_string()) p["appProtocol"] = *ap;
    out.push_back(std::move(p));
  }
  return out;
}

// Identity of a port set, independent of order (upstream NewPortMapKey).
std::string PortMapKey(const Json* ports) {
  std::vector<std::string> parts;
  if (ports && ports->is_array())
    for (const Json& p : *ports)
      parts.push_back(GetString(p, "name") + "/" + std::to_string(p.value("port", 0)) + "/" +
                      GetString(p, "protocol", "TCP") + "/" + GetString(p, "appProtocol"));
  std::sort(parts.begin(), parts.end());
  std::string key;
  for (const std::string& s : parts) key += s + ";";
  return key;
}

// Identity of an endpoint within a port set (upstream endpointHashObj): addresses, hostname and
// the pod it stands for.
std::string EndpointKey(const Json& ep) {
  std::string key = GetStringPath(ep, {"targetRef", "namespace"}) + "/" + GetStringPath(ep, {"targetRef", "name"}) + "|" +
                    GetString(ep, "hostname") + "|";
  if (const Json* a = Find(ep, "addresses"); a && a->is_array()) {
    std::vector<std::string> addrs;
    for (const Json& s : *a)
      if (s.is_string()) addrs.push_back(s.get<std::string>());
    std::sort(addrs.begin(), addrs.end());
    for (const std::string& s : addrs) key += s + ",";
  }
  return key;
}

Json PodToEndpoint(const Json& pod, const Json* node, const Json& service, const std::string& ip) {
  bool serving = framework::IsPodReady(pod);
  bool terminating = framework::IsBeingDeleted(pod);
  const Json* pnra = FindPath(service, {"spec", "publishNotReadyAddresses"});
  bool ready = (pnra && *pnra == true) || (serving && !terminating);
  Json ep = {{"addresses", Json::array({ip})},
             {"conditions", {{"ready", ready}, {"serving", serving}, {"terminating", terminating}}},
             {"targetRef",
              {{"kind", "Pod"},
               {"namespace", GetStringPath(pod, {"metadata", "namespace"})},
               {"name", GetStringPath(pod, {"metadata", "name"})},
               {"uid", GetStringPath(pod, {"metadata", "uid"})}}}};
  if (std::string n = GetStringPath(pod, {"spec", "nodeName"}); !n.empty()) ep["nodeName"] = n;
  if (node) {
    if (std::string z = GetStringPath(*node, {"metadata", "labels", kZoneLabel}); !z.empty()) ep["zone"] = z;
  }
  if (ShouldSetHostname(pod, service)) ep["hostname"] = GetStringPath(pod, {"spec", "hostname"});
  return ep;
}

bool IsReservedLabel(const std::string& k) { return k == kServiceNameLabel || k == kManagedByLabel || k == kHeadlessLabel; }

// Upstream setEndpointSliceLabels: the labels a slice of `service` should have, and whether the
// slice's non-reserved labels differ from the Service's.
std::pair<Json, bool> SliceLabels(const Json* slice, const Json& service) {
  Json have = Json::object(), want = Json::object();
  if (slice)
    if (const Json* l = FindPath(*slice, {"metadata", "labels"}); l && l->is_object())
      for (auto it = l->begin(); it != l->end(); ++it)
        if (!IsReservedLabel(it.key())) have[it.key()] = it.value();
  if (const Json* l = FindPath(service, {"metadata", "labels"}); l && l->is_object())
    for (auto it = l->begin(); it != l->end(); ++it)
      if (!IsReservedLabel(it.key())) want[it.key()] = it.value();
  bool changed = have != want;
  if (IsHeadless(service)) want[kHeadlessLabel] = "";
  want[kServiceNameLabel] = GetStringPath(service, {"metadata", "name"});
  want[kManagedByLabel] = kSliceControllerName;
  return {want, changed};
}

Json NewSlice(const Json& service, const Json& ports, const std::string& address_type) {
  Json meta = {{"generateName", GetStringPath(service, {"metadata", "name"}) + "-"},
               {"namespace", GetStringPath(service, {"metadata", "namespace"})},
               {"labels", SliceLabels(nullptr, service).first},
               {"ownerReferences", Json::array({framework::MakeControllerRef(service, "v1", "Service")})}};
  return Json{{"apiVersion", "discovery.k8s.io/v1"}, {"kind", "EndpointSlice"}, {"metadata", std::move(meta)},
              {"addressType", address_type},     {"ports", ports},              {"endpoints", Json::array()}};
}

size_t NumEndpoints(const Json& slice) {
  const Json* e = Find(slice, "endpoints");
  return e && e->is_array() ? e->size() : 0;
}

bool OwnedBy(const Json& slice, const Json& service) {
  const Json* refs = FindPath(slice, {"metadata", "ownerReferences"});
  if (!refs || !refs->is_array()) return false;
  std::string uid = GetStringPath(service, {"metadata", "uid"});
  for (const Json& r : *refs)
    if (GetString(r, "uid") == uid && GetString(r, "kind") == "Service") return true;
  return false;
}

struct Desired {
  Json ports;                        // the port set, in Service port order
  std::map<std::string, Json> eps;   // endpoint key -> endpoint (ordered: deterministic fill)
};

// Upstream reconcileByPortMapping for one port set.
void ReconcilePortSet(const Json& service, const std::string& address_type, const std::vector<const Json*>& existing,
                      Desired desired, int max, SlicePlan& plan) {
  std::map<std::string, Json> by_name;  // slices modified here, by name
  std::vector<std::string> to_update, unchanged;
  std::set<std::string> to_delete;
  for (const Json* slice : existing) {
    std::string name = GetStringPath(*slice, {"metadata", "name"});
    Json kept = Json::array();
    bool changed = false;
    const Json* eps = Find(*slice, "endpoints");
    size_t have = eps && eps->is_array() ? eps->size() : 0;
    if (have)
      for (const Json& ep : *eps) {
        auto it = desired.eps.find(EndpointKey(ep));
        if (it == desired.eps.end()) continue;
        if (Canonical(it->second) != Canonical(ep)) changed = true;
        kept.push_back(std::move(it->second));
        desired.eps.erase(it);  // placed: it stays in this slice
      }
    auto [labels, labels_changed] = SliceLabels(slice, service);
    if (changed || kept.size() != have) {
      if (kept.empty()) {
        to_delete.insert(name);
        continue;
      }
      Json s = *slice;
      s["endpoints"] = std::move(kept);
      s["metadata"]["labels"] = labels;
      by_name[name] = std::move(s);
      to_update.push_back(name);
    } else if (labels_changed) {
      Json s = *slice;
      s["metadata"]["labels"] = labels;
      by_name[name] = std::move(s);
      to_update.push_back(name);
    } else {
      by_name[name] = *slice;
      unchanged.push_back(name);
    }
  }

  auto pop = [&](Json& slice) {
    while (!desired.eps.empty() && NumEndpoints(slice) < static_cast<size_t>(max)) {
      auto it = desired.eps.begin();
      slice["endpoints"].push_back(std::move(it->second));
      desired.eps.erase(it);
    }
  };
  // Fill the slices already being updated, fullest first.
  if (!desired.eps.empty() && !to_update.empty()) {
    std::vector<std::string> order = to_update;
    std::stable_sort(order.begin(), order.end(), [&](const std::string& a, const std::string& b) {
      return NumEndpoints(by_name[a]) > NumEndpoints(by_name[b]);
    });
    for (const std::string& n : order) pop(by_name[n]);
  }
  // Then the unchanged slice the rest fits best, or new slices.
  while (!desired.eps.empty()) {
    std::string fill;
    if (desired.eps.size() < static_cast<size_t>(max)) {
      size_t closest = max;
      for (const std::string& n : unchanged) {
        size_t used = NumEndpoints(by_name[n]) + desired.eps.size();
        if (used <= static_cast<size_t>(max) && max - used < closest) {
          closest = max - used;
          fill = n;
          if (closest == 0) break;
        }
      }
    }
    if (fill.empty()) {
      Json s = NewSlice(service, desired.ports, address_type);
      pop(s);
      plan.create.push_back(std::move(s));
    } else {
      pop(by_name[fill]);
      unchanged.erase(std::find(unchanged.begin(), unchanged.end(), fill));
      to_update.push_back(fill);
    }
  }
  for (const std::string& n : to_update) plan.update.push_back(std::move(by_name[n]));
  for (const Json* slice : existing)
    if (to_delete.count(GetStringPath(*slice, {"metadata", "name"}))) plan.remove.push_back(*slice);
}

// --- the slice tracker (upstream EndpointSliceTracker, by resourceVersion) -------------------

int64_t RV(const Json& obj) {
  std::string rv = GetStringPath(obj, {"metadata", "resourceVersion"});
  if (rv.empty() || !std::all_of(rv.begin(), rv.end(), [](char c) { return c >= '0' && c <= '9'; }) || rv.size() > 18)
    return 0;
  return std::stoll(rv);
}

class SliceTracker {
 public:
  static constexpr int64_t kDeletionExpected = -1;

  void Written(const std::string& svc, const Json& slice) { Set(svc, slice, RV(slice)); }
  void ExpectDeletion(const std::string& svc, const Json& slice) { Set(svc, slice, kDeletionExpected); }

  // An informer event for a slice: true when it is news to the controller (not its own write).
  bool ShouldSync(const std::string& svc, const Json& slice) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_service_.find(svc);
    if (it == by_service_.end()) return true;
    auto s = it->second.find(GetStringPath(slice, {"metadata", "uid"}));
    return s == it->second.end() || RV(slice) > s->second;
  }
  // A slice delete event: true when the deletion was not ours.
  bool HandleDeletion(const std::string& svc, const Json& slice) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_service_.find(svc);
    if (it == by_service_.end()) return true;
    auto s = it->second.find(GetStringPath(slice, {"metadata", "uid"}));
    if (s == it->second.end()) return true;
    bool expected = s->second == kDeletionExpected;
    it->second.erase(s);
    return !expected;
  }
  // True when the cache lags behind this controller's writes for the Service.
  bool Stale(const std::string& svc, const std::vector<ObjectPtr>& cached) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = by_service_.find(svc);
    if (it == by_service_.end()) return false;
    std::set<std::string> seen;
    for (const ObjectPtr& s : cached) {
      std::string uid = GetStringPath(*s, {"metadata", "uid"});
      seen.insert(uid);
      auto t = it->second.find(uid);
      if (t != it->second.end() && (t->second == kDeletionExpected || t->second > RV(*s))) return true;
    }
    for (const auto& [uid, rv] : it->second)
      if (rv != kDeletionExpected && !seen.count(uid)) return true;
    return false;
  }
  void DeleteService(const std::string& svc) {
    std::lock_guard<std::mutex> l(mu_);
    by_service_.erase(svc);
  }

 private:
  void Set(const std::string& svc, const Json& slice, int64_t v) {
    std::lock_guard<std::mutex> l(mu_);
    by_service_[svc][GetStringPath(slice, {"metadata", "uid"})] = v;
  }
  std::mutex mu_;
  std::map<std::string, std::map<std::string, int64_t>> by_service_;  // GUARDED_BY(mu_)
};

// --- the controller ------------------------------------------------------------------------

// The service key a managed slice belongs to, or "".
std::string ServiceKeyOf(const Json& slice) {
  if (GetStringPath(slice, {"metadata", "labels", kManagedByLabel}) != kSliceControllerName) return "";
  std::string svc = GetStringPath(slice, {"metadata", "labels", kServiceNameLabel});
  if (svc.empty()) return "";
  return GetStringPath(slice, {"metadata", "namespace"}) + "/" + svc;
}

class EndpointSliceController final : public framework::Controller {
 public:
  EndpointSliceController(const framework::ControllerContext& ctx, int max_per_slice)
      : Controller("endpointslice", ctx), max_per_slice_(max_per_slice) {
    services_ = &Informer(client::kServices);
    pods_ = &Informer(client::kPods);
    slices_ = &Informer(client::kEndpointSlices);
    nodes_ = &Informer(client::kNodes);
    services_->AddHandler(EnqueueHandler());
    pods_->AddHandler(PodToServicesHandler(*services_, [this](const std::string& k) { Enqueue(k); }));
    auto on_slice = [this](const ObjectPtr& s) {
      std::string key = ServiceKeyOf(*s);
      if (!key.empty() && tracker_.ShouldSync(key, *s)) Enqueue(key);
    };
    slices_->AddHandler(client::EventHandler{
        .on_add = on_slice,
        .on_update = [on_slice](const ObjectPtr&, const ObjectPtr& n) { on_slice(n); },
        .on_delete =
            [this](const ObjectPtr& s) {
              std::string key = ServiceKeyOf(*s);
              if (!key.empty() && tracker_.HandleDeletion(key, *s)) Enqueue(key);
            },
    });
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  int max_per_slice_;
  client::Informer* services_;
  client::Informer* pods_;
  client::Informer* slices_;
  client::Informer* nodes_;
  TriggerTimeTracker triggers_;
  SliceTracker tracker_;
};

void SetTriggerTime(Json& slice, const std::optional<SystemTime>& t) {
  Json& meta = slice["metadata"];
  if (t) {
    meta["annotations"][kLastChangeTriggerTime] = FormatTriggerTime(*t);
  } else if (meta.contains("annotations") && meta["annotations"].is_object()) {
    meta["annotations"].erase(kLastChangeTriggerTime);
    if (meta["annotations"].empty()) meta.erase("annotations");
  }
}

Status EndpointSliceController::Sync(const std::string& key) {
  auto [ns, name] = client::SplitKey(key);
  ObjectPtr svc = services_->Get(key);
  if (!svc) {
    // The garbage collector deletes the slices (they are owned by the Service).
    triggers_.DeleteService(key);
    tracker_.DeleteService(key);
    return Status::Ok();
  }
  if (GetStringPath(*svc, {"spec", "type"}) == "ExternalName") return Status::Ok();
  auto selector = ServiceSelector(*svc);
  if (!selector) return Status::Ok();  // slices of selector-less Services are the user's

  std::vector<ObjectPtr> pods = pods_->List(ns, &*selector);
  auto slice_sel = client::LabelSelector::Parse(std::string(kServiceNameLabel) + "=" + name + "," + kManagedByLabel +
                                                "=" + kSliceControllerName);
  if (!slice_sel.ok()) return slice_sel.status();
  std::vector<ObjectPtr> slices;
  for (ObjectPtr& s : slices_->List(ns, &*slice_sel))
    if (!framework::IsBeingDeleted(*s)) slices.push_back(std::move(s));
  if (tracker_.Stale(key, slices)) return ConflictError("EndpointSlice informer cache is out of date");
  // Computed before the reconcile so the tracker's state advances even when nothing is written.
  auto trigger = triggers_.Compute(*svc, pods);

  SlicePlan plan = ReconcileSlices(
      *svc, pods, [this](const std::string& n) { return nodes_->Get(n); }, slices, max_per_slice_);

  Status first_err = Status::Ok();
  auto note = [&](const Status& st) {
    if (first_err.ok() && !st.ok()) first_err = st;
  };
  // No new slices for a Service being deleted: the garbage collector would race them.
  if (!framework::IsBeingDeleted(*svc)) {
    for (Json& s : plan.create) {
      SetTriggerTime(s, trigger);
      auto r = client().Create(client::kEndpointSlices, ns, s);
      if (!r.ok()) {
        // A terminating namespace refuses creates: nothing to retry.
        if (r.status().code() != StatusCode::kForbidden) note(r.status());
        continue;
      }
      tracker_.Written(key, *r);
    }
  }
  for (Json& s : plan.update) {
    SetTriggerTime(s, trigger);
    auto r = client().Update(client::kEndpointSlices, ns, s);
    if (!r.ok()) {
      note(r.status());
      continue;
    }
    tracker_.Written(key, *r);
  }
  for (const Json& s : plan.remove) {
    auto r = client().Delete(client::kEndpointSlices, ns, GetStringPath(s, {"metadata", "name"}));
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) {
      note(r.status());
      continue;
    }
    tracker_.ExpectDeletion(key, s);
  }
  if (!plan.create.empty() || !plan.update.empty() || !plan.remove.empty()) {
    TUG_VLOG(4, "endpointslice") << "reconciled slices" << kv("service", key) << kv("created", plan.create.size())
                                 << kv("updated", plan.update.size()) << kv("deleted", plan.remove.size());
  }
  if (!first_err.ok()) {
    recorder().Record(*svc, "Warning", "FailedToUpdateEndpointSlices",
                      "Error updating Endpoint Slices for Service " + key + ": " + first_err.message());
    return first_err;
  }
  triggers_.Commit(key);
  if (!plan.missing_nodes.empty())
    return UnavailableError("skipping pods of service " + key + ": node " + plan.missing_nodes.front() + " not found");
  return Status::Ok();
}

}  // namespace

std::unique_ptr<framework::Controller> NewEndpointSliceController(const framework::ControllerContext& ctx) {
  return std::make_unique<EndpointSliceController>(ctx, kMaxEndpointsPerSlice);
}

std::unique_ptr<framework::Controller> NewEndpointSliceControllerForTest(const framework::ControllerContext& ctx,
                                                                         int max_endpoints_per_slice) {
  return std::make_unique<EndpointSliceController>(ctx, max_endpoints_per_slice);
}

SlicePlan ReconcileSlices(const Json& service, const std::vector<ObjectPtr>& pods,
                          const std::function<ObjectPtr(const std::string&)>& node,
                          const std::vector<ObjectPtr>& existing, int max) {
  SlicePlan plan;
  std::vector<std::string> families = ServiceFamilies(service);
  // Slices of an address type the Service no longer has go.
  for (const ObjectPtr& s : existing)
    if (std::find(families.begin(), families.end(), GetString(*s, "addressType")) == families.end())
      plan.remove.push_back(*s);

  std::set<std::string> missing;
  for (const std::string& family : families) {
    std::map<std::string, Desired> desired;  // port map key -> desired endpoints
    for (const ObjectPtr& pod : pods) {
      if (!ShouldPodBeInEndpoints(*pod, true)) continue;
      std::string node_name = GetStringPath(*pod, {"spec", "nodeName"});
      ObjectPtr n = node(node_name);
      if (!n) {
        missing.insert(node_name);
        continue;
      }
      std::string ip = PodIPOfFamily(*pod, family);
      if (ip.empty()) continue;
      Json ports = EndpointPorts(service, *pod);
      Desired& d = desired[PortMapKey(&ports)];
      if (d.ports.is_null()) d.ports = ports;
      Json ep = PodToEndpoint(*pod, n.get(), service, ip);
      d.eps.emplace(EndpointKey(ep), std::move(ep));
    }
    std::map<std::string, std::vector<const Json*>> existing_by_ports;
    size_t existing_count = 0;
    for (const ObjectPtr& s : existing) {
      if (GetString(*s, "addressType") != family) continue;
      existing_by_ports[PortMapKey(Find(*s, "ports"))].push_back(s.get());
      ++existing_count;
    }
    SlicePlan part;
    for (auto& [pk, d] : desired) {
      auto it = existing_by_ports.find(pk);
      ReconcilePortSet(service, family, it == existing_by_ports.end() ? std::vector<const Json*>{} : it->second,
                       std::move(d), max, part);
    }
    for (const auto& [pk, list] : existing_by_ports)
      if (!desired.count(pk))
        for (const Json* s : list) part.remove.push_back(*s);

    // A Service with no endpoints keeps one placeholder slice (no ports, no endpoints).
    if (existing_count == part.remove.size() && part.create.empty()) {
      Json placeholder = NewSlice(service, Json::array(), family);
      bool reuse = false;
      if (part.remove.size() == 1) {
        const Json& only = part.remove.front();
        reuse = NumEndpoints(only) == 0 && PortMapKey(Find(only, "ports")).empty() &&
                FindPath(only, {"metadata", "labels"}) &&
                Canonical(*FindPath(only, {"metadata", "labels"})) == Canonical(placeholder["metadata"]["labels"]) &&
                OwnedBy(only, service);
      }
      if (reuse)
        part.remove.clear();
      else
        part.create.push_back(std::move(placeholder));
    }

    // A create paired with a delete becomes an update of the deleted slice (same Service and
    // address type), so slices are reused rather than replaced.
    for (size_t i = 0; i < part.remove.size() && !part.create.empty();) {
      const Json& old = part.remove[i];
      if (GetString(old, "addressType") == family && OwnedBy(old, service)) {
        Json s = std::move(part.create.back());
        part.create.pop_back();
        s["metadata"].erase("generateName");
        s["metadata"]["name"] = old["metadata"]["name"];
        s["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"];
        part.update.push_back(std::move(s));
        part.remove.erase(part.remove.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    for (Json& s : part.create) plan.create.push_back(std::move(s));
    for (Json& s : part.update) plan.update.push_back(std::move(s));
    for (Json& s : part.remove) plan.remove.push_back(std::move(s));
  }
  plan.missing_nodes.assign(missing.begin(), missing.end());
  return plan;
}

}  // namespace tug::controllers::endpoints
