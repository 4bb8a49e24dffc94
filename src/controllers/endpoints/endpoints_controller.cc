#include "controllers/endpoints/endpoints_controller.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <mutex>

#include "base/log.h"
#include "controllers/endpoints/util.h"

namespace tug::controllers::endpoints {
namespace {

using client::ObjectPtr;

// One (address, port) fact before repacking. `port` is null for a headless Service without
// ports (upstream's -1 sentinel port).
struct AddrPort {
  std::string addr_key;  // ip + "/" + pod uid (upstream addressKey)
  Json address;
  bool ready;
  Json port;
};

Json EndpointPort(const Json& service_port, int number) {
  Json p = {{"port", number}, {"protocol", PortProtocol(service_port)}};
  if (std::string n = GetString(service_port, "name"); !n.empty()) p["name"] = n;
  if (const Json* ap = Find(service_port, "appProtocol"); ap && ap->is_string()) p["appProtocol"] = *ap;
  return p;
}

// Sort order of addresses: by IP, then by pod uid (upstream LessEndpointAddress).
bool AddressLess(const Json& a, const Json& b) {
  std::string ia = GetString(a, "ip"), ib = GetString(b, "ip");
  if (ia != ib) return ia < ib;
  return GetStringPath(a, {"targetRef", "uid"}) < GetStringPath(b, {"targetRef", "uid"});
}

Json LabelsOf(const Json& obj) {
  const Json* l = FindPath(obj, {"metadata", "labels"});
  return l && l->is_object() ? *l : Json::object();
}

// Leader-election locks of old components live in Endpoints objects: not ours to delete.
bool IsLeaderLock(const Json& ep) {
  return FindPath(ep, {"metadata", "annotations", "control-plane.alpha.kubernetes.io/leader"}) != nullptr;
}

class EndpointsController final : public framework::Controller {
 public:
  explicit EndpointsController(const framework::ControllerContext& ctx) : Controller("endpoints", ctx) {
    services_ = &Informer(client::kServices);
    pods_ = &Informer(client::kPods);
    endpoints_ = &Informer(client::kEndpoints);
    services_->AddHandler(EnqueueHandler());
    pods_->AddHandler(PodToServicesHandler(*services_, [this](const std::string& k) { Enqueue(k); }));
    // A deleted Endpoints object of a selector Service is recreated (upstream onEndpointsDelete).
    // Until the first sync, Endpoints without a Service are queued: that first sync runs the
    // leftover check (nothing else may be queued when no Service exists).
    endpoints_->AddHandler(client::EventHandler{
        .on_add =
            [this](const ObjectPtr& e) {
              if (!leftover_checked_ && !IsLeaderLock(*e) && !services_->Get(client::KeyOf(*e))) Enqueue(*e);
            },
        .on_update = nullptr,
        .on_delete = [this](const ObjectPtr& e) { Enqueue(*e); }});
  }

 protected:
  Status Sync(const std::string& key) override;

 private:
  // Upstream checkLeftoverEndpoints, once, on the first sync (the informers have synced by
  // then): Endpoints whose Service is gone are queued, and their sync deletes them.
  void CheckLeftoverEndpoints() {
    leftover_checked_ = true;
    for (const ObjectPtr& ep : endpoints_->List()) {
      if (IsLeaderLock(*ep)) continue;
      std::string key = client::KeyOf(*ep);
      if (!services_->Get(key)) Enqueue(key);
    }
  }

  client::Informer* services_;
  client::Informer* pods_;
  client::Informer* endpoints_;
  TriggerTimeTracker triggers_;
  std::once_flag leftover_once_;
  std::atomic<bool> leftover_checked_{false};
};

Status EndpointsController::Sync(const std::string& key) {
  std::call_once(leftover_once_, [this] { CheckLeftoverEndpoints(); });
  auto [ns, name] = client::SplitKey(key);
  ObjectPtr svc = services_->Get(key);
  if (!svc) {
    triggers_.DeleteService(key);
    if (!endpoints_->Get(key)) return Status::Ok();
    auto r = client().Delete(client::kEndpoints, ns, name);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
    TUG_VLOG(2, "endpoints") << "deleted endpoints of a deleted service" << kv("service", key);
    return Status::Ok();
  }
  auto selector = ServiceSelector(*svc);
  if (!selector || GetStringPath(*svc, {"spec", "type"}) == "ExternalName") return Status::Ok();

  std::vector<ObjectPtr> pods = pods_->List(ns, &*selector);
  Json subsets = ComputeSubsets(*svc, pods);
  Json kept = subsets;
  bool truncated = TruncateSubsets(kept);
  auto trigger = triggers_.Compute(*svc, pods);

  Json want_labels = LabelsOf(*svc);
  ObjectPtr current = endpoints_->Get(key);
  if (current) {
    Json have_labels = LabelsOf(*current);
    have_labels.erase(kHeadlessLabel);
    const Json* have_subsets = Find(*current, "subsets");
    bool have_over = FindPath(*current, {"metadata", "annotations", kOverCapacity}) != nullptr;
    if (Canonical(have_subsets ? *have_subsets : Json::array()) == Canonical(kept) && have_labels == want_labels &&
        have_over == truncated) {
      triggers_.Commit(key);
      return Status::Ok();  // nothing changed: no write
    }
  }

  Json ep = current ? *current
                    : Json{{"apiVersion", "v1"}, {"kind", "Endpoints"}, {"metadata", {{"name", name}, {"namespace", ns}}}};
  Json& meta = ep["metadata"];
  if (IsHeadless(*svc)) want_labels[kHeadlessLabel] = "";
  if (want_labels.empty())
    meta.erase("labels");
  else
    meta["labels"] = want_labels;
  Json annotations = meta.contains("annotations") && meta["annotations"].is_object() ? meta["annotations"] : Json::object();
  if (trigger)
    annotations[kLastChangeTriggerTime] = FormatTriggerTime(*trigger);
  else
    annotations.erase(kLastChangeTriggerTime);
  if (truncated)
    annotations[kOverCapacity] = "truncated";
  else
    annotations.erase(kOverCapacity);
  if (annotations.empty())
    meta.erase("annotations");
  else
    meta["annotations"] = std::move(annotations);
  if (kept.empty())
    ep.erase("subsets");
  else
    ep["subsets"] = std::move(kept);

  Result<Json> r = current ? client().Update(client::kEndpoints, ns, ep) : client().Create(client::kEndpoints, ns, ep);
  if (!r.ok()) {
    // A terminating namespace refuses creates; nothing to do about it (upstream returns nil).
    if (!current && r.status().code() == StatusCode::kForbidden) return Status::Ok();
    if (r.status().code() != StatusCode::kConflict && r.status().code() != StatusCode::kAlreadyExists) {
      if (current)
        recorder().Record(ep, "Warning", "FailedToUpdateEndpoint",
                          "Failed to update endpoint " + key + ": " + r.status().message());
      else
        recorder().Record(ep, "Warning", "FailedToCreateEndpoint",
                          "Failed to create endpoint for service " + key + ": " + r.status().message());
    }
    return r.status();
  }
  triggers_.Commit(key);
  TUG_VLOG(4, "endpoints") << "updated endpoints" << kv("service", key) << kv("created", !current)
                           << kv("truncated", truncated);
  return Status::Ok();
}

}  // namespace

std::unique_ptr<framework::Controller> NewEndpointsController(const framework::ControllerContext& ctx) {
  return std::make_unique<EndpointsController>(ctx);
}

Json ComputeSubsets(const Json& service, const std::vector<ObjectPtr>& pods) {
  bool publish_not_ready = FindPath(service, {"spec", "publishNotReadyAddresses"}) &&
                           *FindPath(service, {"spec", "publishNotReadyAddresses"}) == true;
  const Json* ports = FindPath(service, {"spec", "ports"});
  bool has_ports = ports && ports->is_array() && !ports->empty();
  std::string family = PrimaryFamily(service);

  std::vector<AddrPort> facts;
  for (const ObjectPtr& pod : pods) {
    if (!ShouldPodBeInEndpoints(*pod, publish_not_ready)) continue;
    std::string ip = PodIPOfFamily(*pod, family);
    if (ip.empty()) continue;  // no IP of the Service's family
    Json addr = {{"ip", ip},
                 {"targetRef",
                  {{"kind", "Pod"},
                   {"namespace", GetStringPath(*pod, {"metadata", "namespace"})},
                   {"name", GetStringPath(*pod, {"metadata", "name"})},
                   {"uid", GetStringPath(*pod, {"metadata", "uid"})}}}};
    if (std::string node = GetStringPath(*pod, {"spec", "nodeName"}); !node.empty()) addr["nodeName"] = node;
    if (ShouldSetHostname(*pod, service)) addr["hostname"] = GetStringPath(*pod, {"spec", "hostname"});
    bool ready = publish_not_ready || framework::IsPodReady(*pod);
    std::string addr_key = ip + "/" + GetStringPath(*pod, {"metadata", "uid"});
    if (!has_ports) {
      // Only a headless Service publishes addresses without ports.
      if (IsHeadless(service)) facts.push_back({addr_key, addr, ready, Json()});
      continue;
    }
    for (const Json& sp : *ports) {
      auto num = FindPort(*pod, sp);
      if (!num.ok()) continue;  // the pod lacks the named port: skipped for this port
      facts.push_back({addr_key, addr, ready, EndpointPort(sp, *num)});
    }
  }

  // RepackSubsets: port -> {address -> ready} (ready wins), then address set -> ports.
  std::map<std::string, std::map<std::string, bool>> addrs_by_port;  // port dump -> addr key -> ready
  std::map<std::string, Json> port_by_key;
  std::map<std::string, Json> addr_by_key;
  for (const AddrPort& f : facts) {
    std::string pk = f.port.is_null() ? "" : f.port.dump();
    port_by_key.emplace(pk, f.port);
    addr_by_key.emplace(f.addr_key, f.address);
    auto [it, fresh] = addrs_by_port[pk].emplace(f.addr_key, f.ready);
    if (!fresh && f.ready) it->second = true;
  }
  std::map<std::string, std::pair<const std::map<std::string, bool>*, std::vector<Json>>> by_addr_set;
  for (const auto& [pk, addrs] : addrs_by_port) {
    std::string set_key;
    for (const auto& [ak, ready] : addrs) set_key += ak + (ready ? "+" : "-") + ";";
    auto& entry = by_addr_set[set_key];
    entry.first = &addrs;
    if (!port_by_key[pk].is_null()) entry.second.push_back(port_by_key[pk]);
  }
  std::vector<Json> out;
  for (auto& [set_key, entry] : by_addr_set) {
    std::vector<Json> ready, not_ready;
    for (const auto& [ak, r] : *entry.first) (r ? ready : not_ready).push_back(addr_by_key[ak]);
    std::sort(ready.begin(), ready.end(), AddressLess);
    std::sort(not_ready.begin(), not_ready.end(), AddressLess);
    std::sort(entry.second.begin(), entry.second.end(), [](const Json& a, const Json& b) {
      return std::make_tuple(GetString(a, "name"), a.value("port", 0), GetString(a, "protocol")) <
             std::make_tuple(GetString(b, "name"), b.value("port", 0), GetString(b, "protocol"));
    });
    Json s = Json::object();
    if (!ready.empty()) s["addresses"] = ready;
    if (!not_ready.empty()) s["notReadyAddresses"] = not_ready;
    if (!entry.second.empty()) s["ports"] = entry.second;
    out.push_back(std::move(s));
  }
  // Subsets in a stable order: by their first address, then by their ports.
  std::sort(out.begin(), out.end(), [](const Json& a, const Json& b) {
    auto first = [](const Json& s) {
      const Json* l = Find(s, "addresses");
      if (!l) l = Find(s, "notReadyAddresses");
      return l ? GetString((*l)[0], "ip") + "/" + GetStringPath((*l)[0], {"targetRef", "uid"}) : std::string();
    };
    std::string fa = first(a), fb = first(b);
    if (fa != fb) return fa < fb;
    return a.dump() < b.dump();
  });
  return Json(out);
}

bool TruncateSubsets(Json& subsets) {
  auto count = [](const Json& s, const char* f) -> int {
    const Json* l = Find(s, f);
    return l && l->is_array() ? static_cast<int>(l->size()) : 0;
  };
  int total_ready = 0, total_not_ready = 0;
  for (const Json& s : subsets) {
    total_ready += count(s, "addresses");
    total_not_ready += count(s, "notReadyAddresses");
  }
  if (total_ready + total_not_ready <= kMaxEndpointsCapacity) return false;
  bool truncate_ready = total_ready > kMaxEndpointsCapacity;
  int max = truncate_ready ? kMaxEndpointsCapacity : kMaxEndpointsCapacity - total_ready;
  int num_total = truncate_ready ? total_ready : total_not_ready;
  int can_be_added = max;
  for (Json& s : subsets) {
    const char* field = truncate_ready ? "addresses" : "notReadyAddresses";
    int in_subset = count(s, field);
    int to_add = static_cast<int>(std::ceil(static_cast<double>(in_subset) / num_total * max));
    to_add = std::min(to_add, can_be_added);
    if (in_subset > to_add) {
      Json& l = s[field];
      l.erase(l.begin() + to_add, l.end());
    }
    if (s.contains(field) && s[field].empty()) s.erase(field);
    if (truncate_ready) s.erase("notReadyAddresses");
    can_be_added -= count(s, field);
  }
  // A subset left with no address at all says nothing.
  Json kept = Json::array();
  for (Json& s : subsets)
    if (count(s, "addresses") + count(s, "notReadyAddresses") > 0) kept.push_back(std::move(s));
  subsets = std::move(kept);
  return true;
}

}  // namespace tug::controllers::endpoints
