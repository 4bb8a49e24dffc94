#include "apiserver/rest/allocator.h"

#include <arpa/inet.h>

namespace tug::apiserver::rest {

Result<uint32_t> ParseIPv4(const std::string& s) {
  in_addr a{};
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) return BadRequestError("invalid IPv4 address: " + s);
  return ntohl(a.s_addr);
}

std::string FormatIPv4(uint32_t ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." +
         std::to_string((ip >> 8) & 255) + "." + std::to_string(ip & 255);
}

Result<std::unique_ptr<ServiceAllocator>> ServiceAllocator::New(const std::string& cidr) {
  auto slash = cidr.find('/');
  if (slash == std::string::npos) return BadRequestError("invalid service CIDR: " + cidr);
  ASSIGN_OR_RETURN(uint32_t ip, ParseIPv4(cidr.substr(0, slash)));
  int bits = std::atoi(cidr.c_str() + slash + 1);
  if (bits < 8 || bits > 30) return BadRequestError("invalid service CIDR prefix: " + cidr);
  std::unique_ptr<ServiceAllocator> a(new ServiceAllocator());
  a->size_ = 1u << (32 - bits);
  a->base_ = ip & ~(a->size_ - 1);
  a->cidr_ = cidr;
  return a;
}

std::string ServiceAllocator::FirstIP() const { return FormatIPv4(base_ + 1); }

namespace {
bool WantsNodePorts(const Json& spec) {
  std::string type = GetString(spec, "type", "ClusterIP");
  return type == "NodePort" || type == "LoadBalancer";
}
}  // namespace

void ServiceAllocator::MarkUsed(const Json& svc) {
  std::lock_guard<std::mutex> lock(mu_);
  const Json* spec = Find(svc, "spec");
  if (!spec) return;
  auto ip = ParseIPv4(GetString(*spec, "clusterIP"));
  if (ip.ok() && *ip > base_ && *ip < base_ + size_ - 1) ips_.insert(*ip);
  if (const Json* ports = Find(*spec, "ports"); ports && ports->is_array())
    for (const auto& p : *ports)
      if (const Json* np = Find(p, "nodePort"); np && np->is_number_integer()) ports_.insert(np->get<int>());
}

api::FieldErrors ServiceAllocator::Allocate(Json& svc, const Json* old, Taken* taken) {
  api::FieldErrors errs;
  std::lock_guard<std::mutex> lock(mu_);
  if (!svc["spec"].is_object()) svc["spec"] = Json::object();
  Json& spec = svc["spec"];
  const Json* old_spec = old ? Find(*old, "spec") : nullptr;
  std::string type = GetString(spec, "type", "ClusterIP");
  if (type == "ExternalName") return errs;

  std::string ip = GetString(spec, "clusterIP");
  if (ip.empty()) {
    if (const Json* ips = Find(spec, "clusterIPs"); ips && ips->is_array() && !ips->empty() && (*ips)[0].is_string())
      ip = (*ips)[0].get<std::string>();
  }
  std::string old_ip = old_spec ? GetString(*old_spec, "clusterIP") : "";
  if (ip.empty() && !old_ip.empty()) ip = old_ip;
  if (ip.empty()) {
    bool found = false;
    for (uint32_t n = 0; n + 2 < size_; ++n) {
      uint32_t off = next_ip_ + n;
      if (off >= size_ - 1) off = 2 + (off - (size_ - 1));
      uint32_t cand = base_ + off;
      if (!ips_.count(cand)) {
        ips_.insert(cand);
        if (taken) taken->ips.push_back(cand);
        next_ip_ = off + 1;
        ip = FormatIPv4(cand);
        found = true;
        break;
      }
    }
    if (!found) {
      errs.push_back(api::FieldError::Invalid("spec.clusterIPs", Json::array(), "failed to allocate IP: range is full"));
      return errs;
    }
  } else if (ip != "None" && ip != old_ip) {
    auto parsed = ParseIPv4(ip);
    Json shown = Json::array({ip});
    if (!parsed.ok()) {
      errs.push_back(api::FieldError::Invalid("spec.clusterIPs[0]", ip, "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
      return errs;
    }
    if (*parsed <= base_ || *parsed >= base_ + size_ - 1) {
      errs.push_back(api::FieldError::Invalid(
          "spec.clusterIPs", shown,
          "failed to allocate IP " + ip + ": the provided IP (" + ip +
              ") is not in the valid range. The range of valid IPs is " + cidr_));
      return errs;
    }
    if (ips_.count(*parsed)) {
      errs.push_back(api::FieldError::Invalid("spec.clusterIPs", shown,
                                              "failed to allocate IP " + ip + ": provided IP is already allocated"));
      return errs;
    }
    ips_.insert(*parsed);
    if (taken) taken->ips.push_back(*parsed);
  }
  spec["clusterIP"] = ip;
  spec["clusterIPs"] = Json::array({ip});
  if (!spec.contains("ipFamilies")) spec["ipFamilies"] = Json::array({"IPv4"});
  if (!spec.contains("ipFamilyPolicy")) spec["ipFamilyPolicy"] = "SingleStack";

  if (!WantsNodePorts(spec)) return errs;
  Json& ports = spec["ports"];
  if (!ports.is_array()) return errs;
  for (size_t i = 0; i < ports.size(); ++i) {
    Json& p = ports[i];
    if (!p.is_object()) continue;
    const Json* np = Find(p, "nodePort");
    int want = np && np->is_number_integer() ? np->get<int>() : 0;
    // Carry the old node port of the same port when the client did not set one.
    if (want == 0 && old_spec) {
      if (const Json* op = Find(*old_spec, "ports"); op && op->is_array())
        for (const auto& o : *op)
          if (o.value("port", -1) == p.value("port", -2) && o.value("protocol", "TCP") == p.value("protocol", "TCP"))
            want = o.value("nodePort", 0);
      if (want != 0) { p["nodePort"] = want; continue; }
    }
    bool held_by_old = false;
    if (old_spec && want != 0)
      if (const Json* op = Find(*old_spec, "ports"); op && op->is_array())
        for (const auto& o : *op) held_by_old = held_by_old || o.value("nodePort", 0) == want;
    if (held_by_old) continue;
    std::string field = "spec.ports[" + std::to_string(i) + "].nodePort";
    if (want != 0) {
      if (want < kNodePortMin || want > kNodePortMax) {
        errs.push_back(api::FieldError::Invalid(field, want, "provided port is not in the valid range. The range of valid ports is 30000-32767"));
        continue;
      }
      if (ports_.count(want)) {
        errs.push_back(api::FieldError::Invalid(field, want, "provided port is already allocated"));
        continue;
      }
      ports_.insert(want);
      if (taken) taken->ports.push_back(want);
      continue;
    }
    bool found = false;
    for (int n = 0; n <= kNodePortMax - kNodePortMin; ++n) {
      int cand = next_port_ + n;
      if (cand > kNodePortMax) cand -= (kNodePortMax - kNodePortMin + 1);
      if (!ports_.count(cand)) {
        ports_.insert(cand);
        if (taken) taken->ports.push_back(cand);
        next_port_ = cand + 1;
        p["nodePort"] = cand;
        found = true;
        break;
      }
    }
    if (!found) errs.push_back(api::FieldError::Invalid(field, 0, "range is full"));
  }
  return errs;
}

void ServiceAllocator::Undo(const Taken& taken) {
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t ip : taken.ips) ips_.erase(ip);
  for (int p : taken.ports) ports_.erase(p);
}

void ServiceAllocator::Release(const Json& svc, const Json* keep) {
  std::set<uint32_t> keep_ips;
  std::set<int> keep_ports;
  auto collect = [](const Json& s, std::set<uint32_t>& ips, std::set<int>& ports) {
    const Json* spec = Find(s, "spec");
    if (!spec) return;
    auto ip = ParseIPv4(GetString(*spec, "clusterIP"));
    if (ip.ok()) ips.insert(*ip);
    if (const Json* ps = Find(*spec, "ports"); ps && ps->is_array())
      for (const auto& p : *ps)
        if (const Json* np = Find(p, "nodePort"); np && np->is_number_integer()) ports.insert(np->get<int>());
  };
  std::set<uint32_t> had_ips;
  std::set<int> had_ports;
  collect(svc, had_ips, had_ports);
  if (keep) collect(*keep, keep_ips, keep_ports);
  std::lock_guard<std::mutex> lock(mu_);
  for (uint32_t ip : had_ips)
    if (!keep_ips.count(ip)) ips_.erase(ip);
  for (int p : had_ports)
    if (!keep_ports.count(p)) ports_.erase(p);
}

}  // namespace tug::apiserver::rest
