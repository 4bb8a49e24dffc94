// Tables of networking, RBAC, storage, coordination, discovery, scheduling, node,
// certificates, admission registration, flow control, apiextensions and apiregistration kinds,
// plus the shared column helpers and the TableFor lookup.
#include <map>
#include <mutex>
#include <set>

#include "api/printers/tables.h"
#include "api/printers/util.h"

namespace tug::api::printers {
namespace {


std::string LoadBalancerIngress(const Json& ingress) {
  std::set<std::string> out;
  for (const Json& i : ingress) {
    if (!Str(i, {"ip"}).empty()) out.insert(Str(i, {"ip"}));
    else if (!Str(i, {"hostname"}).empty()) out.insert(Str(i, {"hostname"}));
  }
  return Join(std::vector<std::string>(out.begin(), out.end()), ",");
}

Json IngressRow(const Json& o, SystemTime now) {
  std::string cls = "<none>";
  if (At(o, {"spec", "ingressClassName"}) && At(o, {"spec", "ingressClassName"})->is_string()) cls = Str(o, {"spec", "ingressClassName"});
  const Json& rules = Arr(o, {"spec", "rules"});
  std::vector<std::string> hosts;
  const size_t max = 3;
  bool more = false;
  for (const Json& r : rules) {
    if (hosts.size() == max) more = true;
    if (!more && !Str(r, {"host"}).empty()) hosts.push_back(Str(r, {"host"}));
  }
  std::string host_cell;
  if (hosts.empty()) host_cell = "*";
  else if (more) host_cell = Join(hosts, ",") + " + " + std::to_string(rules.size() - max) + " more...";
  else host_cell = Join(hosts, ",");
  std::string ports = Arr(o, {"spec", "tls"}).empty() ? "80" : "80, 443";
  return Cells({Name(o), cls, host_cell, LoadBalancerIngress(Arr(o, {"status", "loadBalancer", "ingress"})), ports, Age(o, now)});
}

Json IngressClassRow(const Json& o, SystemTime now) {
  std::string params = "<none>";
  if (Has(o, {"spec", "parameters"})) {
    params = Str(o, {"spec", "parameters", "kind"});
    const Json* g = At(o, {"spec", "parameters", "apiGroup"});
    if (g && g->is_string()) params += "." + g->get<std::string>();
    params += "/" + Str(o, {"spec", "parameters", "name"});
  }
  return Cells({Name(o), Str(o, {"spec", "controller"}), params, Age(o, now)});
}

Json NetworkPolicyRow(const Json& o, SystemTime now) {
  const Json* sel = At(o, {"spec", "podSelector"});
  static const Json kEmpty = Json::object();
  return Cells({Name(o), FormatLabelSelector(sel ? sel : &kEmpty), Age(o, now)});
}

Json BindingRow(const Json& o, SystemTime now) {
  std::vector<std::string> users, groups, sas;
  for (const Json& s : Arr(o, {"subjects"})) {
    std::string kind = Str(s, {"kind"});
    if (kind == "ServiceAccount") sas.push_back(Str(s, {"namespace"}) + "/" + Str(s, {"name"}));
    else if (kind == "User") users.push_back(Str(s, {"name"}));
    else if (kind == "Group") groups.push_back(Str(s, {"name"}));
  }
  return Cells({Name(o), Str(o, {"roleRef", "kind"}) + "/" + Str(o, {"roleRef", "name"}), Age(o, now), Join(users, ", "),
                Join(groups, ", "), Join(sas, ", ")});
}

bool IsDefaultClass(const Json& o) {
  return Str(o, {"metadata", "annotations", "storageclass.kubernetes.io/is-default-class"}) == "true" ||
         Str(o, {"metadata", "annotations", "storageclass.beta.kubernetes.io/is-default-class"}) == "true";
}

Json StorageClassRow(const Json& o, SystemTime now) {
  std::string name = Name(o);
  if (IsDefaultClass(o)) name += " (default)";
  std::string reclaim = Str(o, {"reclaimPolicy"});
  if (reclaim.empty()) reclaim = "Delete";
  std::string binding = Str(o, {"volumeBindingMode"});
  if (binding.empty()) binding = "Immediate";
  return Cells({name, Str(o, {"provisioner"}), reclaim, binding, Bool(o, {"allowVolumeExpansion"}), Age(o, now)});
}

Json CSIDriverRow(const Json& o, SystemTime now) {
  std::vector<std::string> modes;
  for (const Json& m : Arr(o, {"spec", "volumeLifecycleModes"})) {
    if (m.is_string()) modes.push_back(m.get<std::string>());
  }
  std::string mode_cell = modes.empty() ? "<none>" : Join(modes, ",");
  std::string tokens = "<unset>";
  const Json* tr = At(o, {"spec", "tokenRequests"});
  if (tr && tr->is_array()) {
    std::vector<std::string> auds;
    for (const Json& t : *tr) auds.push_back(Str(t, {"audience"}));
    tokens = Join(auds, ",");
  }
  return Cells({Name(o), Bool(o, {"spec", "attachRequired"}, true), Bool(o, {"spec", "podInfoOnMount"}),
                Bool(o, {"spec", "storageCapacity"}), tokens, Bool(o, {"spec", "requiresRepublish"}), mode_cell, Age(o, now)});
}

Json CSINodeRow(const Json& o, SystemTime now) {
  return Cells({Name(o), static_cast<int64_t>(Arr(o, {"spec", "drivers"}).size()), Age(o, now)});
}

Json VolumeAttachmentRow(const Json& o, SystemTime now) {
  return Cells({Name(o), Str(o, {"spec", "attacher"}), Str(o, {"spec", "source", "persistentVolumeName"}), Str(o, {"spec", "nodeName"}),
                Bool(o, {"status", "attached"}), Age(o, now)});
}

Json CSIStorageCapacityRow(const Json& o, SystemTime) {
  std::string cap = Has(o, {"capacity"}) ? QuantityText(At(o, {"capacity"})) : "<unset>";
  return Cells({Name(o), Str(o, {"storageClassName"}), cap});
}

Json LeaseRow(const Json& o, SystemTime now) { return Cells({Name(o), Str(o, {"spec", "holderIdentity"}), Age(o, now)}); }

std::string ListWithMore(const std::vector<std::string>& list, bool more, size_t count, size_t max) {
  std::string ret = Join(list, ",");
  if (more) return ret + " + " + std::to_string(count - max) + " more...";
  if (ret.empty()) return "<unset>";
  return ret;
}

Json EndpointSliceRow(const Json& o, SystemTime now) {
  const size_t max = 3;
  std::vector<std::string> ports;
  bool more = false;
  size_t count = 0;
  for (const Json& p : Arr(o, {"ports"})) {
    if (ports.size() < max) {
      std::string n = "*";
      if (Has(p, {"port"})) n = std::to_string(Int(p, {"port"}));
      else if (Has(p, {"name"})) n = Str(p, {"name"});
      ports.push_back(n);
    } else if (ports.size() == max) {
      more = true;
    }
    count++;
  }
  std::string port_cell = ListWithMore(ports, more, count, max);
  std::vector<std::string> addrs;
  more = false;
  count = 0;
  for (const Json& e : Arr(o, {"endpoints"})) {
    for (const Json& a : Arr(e, {"addresses"})) {
      if (addrs.size() < max) addrs.push_back(a.is_string() ? a.get<std::string>() : "");
      else if (addrs.size() == max) more = true;
      count++;
    }
  }
  return Cells({Name(o), Str(o, {"addressType"}), port_cell, ListWithMore(addrs, more, count, max), Age(o, now)});
}

Json PriorityClassRow(const Json& o, SystemTime now) {
  return Cells({Name(o), Int(o, {"value"}), Bool(o, {"globalDefault"}), Age(o, now), Str(o, {"preemptionPolicy"})});
}

Json RuntimeClassRow(const Json& o, SystemTime now) { return Cells({Name(o), Str(o, {"handler"}), Age(o, now)}); }

Json CSRRow(const Json& o, SystemTime now) {
  bool approved = false, denied = false, failed = false;
  for (const Json& c : Arr(o, {"status", "conditions"})) {
    std::string t = Str(c, {"type"});
    if (t == "Approved") approved = true;
    else if (t == "Denied") denied = true;
    else if (t == "Failed") failed = true;
  }
  std::string status = denied ? "Denied" : approved ? "Approved" : "Pending";
  if (failed) status += ",Failed";
  if (!Str(o, {"status", "certificate"}).empty()) status += ",Issued";
  std::string signer = Str(o, {"spec", "signerName"});
  if (signer.empty()) signer = "<none>";
  std::string duration = "<none>";
  if (Has(o, {"spec", "expirationSeconds"})) duration = HumanDuration(std::chrono::seconds(Int(o, {"spec", "expirationSeconds"})));
  return Cells({Name(o), Age(o, now), signer, Str(o, {"spec", "username"}), duration, status});
}

Json WebhookConfigRow(const Json& o, SystemTime now) {
  return Cells({Name(o), static_cast<int64_t>(Arr(o, {"webhooks"}).size()), Age(o, now)});
}

Json AdmissionPolicyRow(const Json& o, SystemTime now) {
  std::string param = "<unset>";
  if (Has(o, {"spec", "paramKind"})) param = Str(o, {"spec", "paramKind", "apiVersion"}) + "/" + Str(o, {"spec", "paramKind", "kind"});
  return Cells({Name(o), static_cast<int64_t>(Arr(o, {"spec", "validations"}).size()), param, Age(o, now)});
}

Json AdmissionPolicyBindingRow(const Json& o, SystemTime now) {
  std::string param = "<unset>";
  if (Has(o, {"spec", "paramRef"})) {
    std::string n = Str(o, {"spec", "paramRef", "name"});
    if (!n.empty()) {
      std::string ns = Str(o, {"spec", "paramRef", "namespace"});
      param = (ns.empty() ? std::string("*") : ns) + "/" + n;
    } else if (Has(o, {"spec", "paramRef", "selector"})) {
      param = LabelSelectorString(At(o, {"spec", "paramRef", "selector"}));
    }
  }
  return Cells({Name(o), Str(o, {"spec", "policyName"}), param, Age(o, now)});
}

Json FlowSchemaRow(const Json& o, SystemTime now) {
  std::string method = "<none>";
  if (Has(o, {"spec", "distinguisherMethod"})) method = Str(o, {"spec", "distinguisherMethod", "type"});
  std::string dangling = "?";
  for (const Json& c : Arr(o, {"status", "conditions"})) {
    if (Str(c, {"type"}) == "Dangling") {
      dangling = Str(c, {"status"});
      break;
    }
  }
  return Cells({Name(o), Str(o, {"spec", "priorityLevelConfiguration", "name"}), Int(o, {"spec", "matchingPrecedence"}), method,
                Age(o, now), dangling});
}

Json PriorityLevelRow(const Json& o, SystemTime now) {
  Json ncs = "<none>", queues = "<none>", hand = "<none>", qll = "<none>";
  if (Has(o, {"spec", "limited"})) {
    ncs = Int(o, {"spec", "limited", "nominalConcurrencyShares"});
    if (Has(o, {"spec", "limited", "limitResponse", "queuing"})) {
      queues = Int(o, {"spec", "limited", "limitResponse", "queuing", "queues"});
      hand = Int(o, {"spec", "limited", "limitResponse", "queuing", "handSize"});
      qll = Int(o, {"spec", "limited", "limitResponse", "queuing", "queueLengthLimit"});
    }
  }
  return Cells({Name(o), Str(o, {"spec", "type"}), ncs, queues, hand, qll, Age(o, now)});
}

Json APIServiceRow(const Json& o, SystemTime now) {
  std::string service = "Local";
  if (Has(o, {"spec", "service"})) service = Str(o, {"spec", "service", "namespace"}) + "/" + Str(o, {"spec", "service", "name"});
  std::string available = "Unknown";
  for (const Json& c : Arr(o, {"status", "conditions"})) {
    if (Str(c, {"type"}) == "Available") {
      available = Str(c, {"status"});
      if (available != "True") available += " (" + Str(c, {"reason"}) + ")";
      break;
    }
  }
  return Cells({Name(o), service, available, Age(o, now)});
}

Json ServiceCIDRRow(const Json& o, SystemTime now) {
  std::vector<std::string> cidrs;
  for (const Json& c : Arr(o, {"spec", "cidrs"})) {
    if (c.is_string()) cidrs.push_back(c.get<std::string>());
  }
  return Cells({Name(o), Join(cidrs, ","), Age(o, now)});
}

Json IPAddressRow(const Json& o, SystemTime now) {
  std::string parent = "<none>";
  if (Has(o, {"spec", "parentRef"})) {
    std::string group = Str(o, {"spec", "parentRef", "group"});
    std::string resource = Str(o, {"spec", "parentRef", "resource"});
    parent = ToLower(group.empty() ? resource : resource + "." + group);
    std::string ns = Str(o, {"spec", "parentRef", "namespace"});
    if (!ns.empty()) parent += "/" + ns;
    parent += "/" + Str(o, {"spec", "parentRef", "name"});
  }
  return Cells({Name(o), parent, Age(o, now)});
}

const std::map<std::string, TableDef, std::less<>>& AllTables() {
  static const auto* tables = [] {
    TableMap m;
    AddCoreTables(m);
    AddWorkloadTables(m);
    AddOtherTables(m);
    auto* out = new std::map<std::string, TableDef, std::less<>>();
    for (auto& [gk, def] : m) (*out)[std::string(gk.first) + "/" + std::string(gk.second)] = std::move(def);
    return out;
  }();
  return *tables;
}

}  // namespace

TableColumn Column(std::string name, std::string type, std::string description, int priority) {
  TableColumn c;
  c.name = std::move(name);
  c.type = std::move(type);
  c.description = std::move(description);
  c.priority = priority;
  return c;
}

TableColumn NameColumn() {
  TableColumn c = Column("Name", "string", "Name of the object, unique within its namespace.");
  c.format = "name";
  return c;
}

TableColumn AgeColumn() { return Column("Age", "string", "Time since the object was created."); }

std::vector<TableColumn> CreatedAtColumns() {
  return {NameColumn(), Column("Created At", "date", "When the object was created (RFC 3339).")};
}

Json CreatedAtRow(const Json& obj, SystemTime) {
  return Cells({Name(obj), Str(obj, {"metadata", "creationTimestamp"})});
}

const TableDef* TableFor(std::string_view group, std::string_view kind) {
  const auto& all = AllTables();
  std::string key = std::string(group) + "/" + std::string(kind);
  auto it = all.find(key);
  return it == all.end() ? nullptr : &it->second;
}

void AddOtherTables(TableMap& m) {
  m.push_back({{"networking.k8s.io", "Ingress"},
               {{NameColumn(), Column("Class", "string", "Ingress class name."), Column("Hosts", "string", "Hosts the rules match."),
                 Column("Address", "string", "Load-balancer addresses."), Column("Ports", "string", "Ports served."), AgeColumn()},
                IngressRow}});
  m.push_back({{"networking.k8s.io", "IngressClass"},
               {{NameColumn(), Column("Controller", "string", "Controller implementing the class."),
                 Column("Parameters", "string", "Parameters resource (kind.group/name)."), AgeColumn()},
                IngressClassRow}});
  m.push_back({{"networking.k8s.io", "NetworkPolicy"},
               {{NameColumn(), Column("Pod-Selector", "string", "Pods the policy applies to."), AgeColumn()}, NetworkPolicyRow}});
  m.push_back({{"networking.k8s.io", "ServiceCIDR"},
               {{NameColumn(), Column("CIDRs", "string", "Service IP ranges."), AgeColumn()}, ServiceCIDRRow}});
  m.push_back({{"networking.k8s.io", "IPAddress"},
               {{NameColumn(), Column("ParentRef", "string", "The object the address belongs to.")}, IPAddressRow}});
  std::vector<TableColumn> binding_cols = {NameColumn(), Column("Role", "string", "Referenced role (kind/name)."), AgeColumn(),
                                           Column("Users", "string", "User subjects.", 1), Column("Groups", "string", "Group subjects.", 1),
                                           Column("ServiceAccounts", "string", "Service account subjects.", 1)};
  m.push_back({{"rbac.authorization.k8s.io", "RoleBinding"}, {binding_cols, BindingRow}});
  m.push_back({{"rbac.authorization.k8s.io", "ClusterRoleBinding"}, {binding_cols, BindingRow}});
  m.push_back({{"rbac.authorization.k8s.io", "Role"}, {CreatedAtColumns(), CreatedAtRow}});
  m.push_back({{"rbac.authorization.k8s.io", "ClusterRole"}, {CreatedAtColumns(), CreatedAtRow}});
  m.push_back({{"storage.k8s.io", "StorageClass"},
               {{NameColumn(), Column("Provisioner", "string", "Volume provisioner."), Column("ReclaimPolicy", "string", "Reclaim policy."),
                 Column("VolumeBindingMode", "string", "When volumes are bound."),
                 Column("AllowVolumeExpansion", "string", "Whether volumes may grow."), AgeColumn()},
                StorageClassRow}});
  m.push_back({{"storage.k8s.io", "CSIDriver"},
               {{NameColumn(), Column("AttachRequired", "boolean", "Whether attach is needed."),
                 Column("PodInfoOnMount", "boolean", "Whether pod info is passed on mount."),
                 Column("StorageCapacity", "boolean", "Whether capacity is tracked."),
                 Column("TokenRequests", "string", "Audiences of requested tokens."),
                 Column("RequiresRepublish", "boolean", "Whether volumes are republished."),
                 Column("Modes", "string", "Volume lifecycle modes."), AgeColumn()},
                CSIDriverRow}});
  m.push_back({{"storage.k8s.io", "CSINode"}, {{NameColumn(), Column("Drivers", "integer", "Registered CSI drivers."), AgeColumn()}, CSINodeRow}});
  m.push_back({{"storage.k8s.io", "VolumeAttachment"},
               {{NameColumn(), [] { auto c = Column("Attacher", "string", "Attaching driver."); c.format = "name"; return c; }(),
                 Column("PV", "string", "Persistent volume name."), Column("Node", "string", "Node to attach to."),
                 Column("Attached", "boolean", "Whether attached."), AgeColumn()},
                VolumeAttachmentRow}});
  m.push_back({{"storage.k8s.io", "CSIStorageCapacity"},
               {{NameColumn(), Column("StorageClassName", "string", "Storage class."), Column("Capacity", "string", "Available capacity.")},
                CSIStorageCapacityRow}});
  m.push_back({{"coordination.k8s.io", "Lease"}, {{NameColumn(), Column("Holder", "string", "Current holder."), AgeColumn()}, LeaseRow}});
  m.push_back({{"discovery.k8s.io", "EndpointSlice"},
               {{NameColumn(), Column("AddressType", "string", "IPv4, IPv6 or FQDN."), Column("Ports", "string", "Endpoint ports."),
                 Column("Endpoints", "string", "Endpoint addresses."), AgeColumn()},
                EndpointSliceRow}});
  m.push_back({{"scheduling.k8s.io", "PriorityClass"},
               {{NameColumn(), Column("Value", "integer", "Priority value."), Column("Global-Default", "boolean", "Whether it is the default."),
                 AgeColumn(), Column("PreemptionPolicy", "string", "Preemption policy.")},
                PriorityClassRow}});
  m.push_back({{"node.k8s.io", "RuntimeClass"}, {{NameColumn(), Column("Handler", "string", "Runtime handler."), AgeColumn()}, RuntimeClassRow}});
  m.push_back({{"certificates.k8s.io", "CertificateSigningRequest"},
               {{NameColumn(), AgeColumn(), Column("SignerName", "string", "Requested signer."), Column("Requestor", "string", "Requesting user."),
                 Column("RequestedDuration", "string", "Requested validity."), Column("Condition", "string", "Approval state.")},
                CSRRow}});
  std::vector<TableColumn> webhook_cols = {NameColumn(), Column("Webhooks", "integer", "Number of webhooks."), AgeColumn()};
  m.push_back({{"admissionregistration.k8s.io", "ValidatingWebhookConfiguration"}, {webhook_cols, WebhookConfigRow}});
  m.push_back({{"admissionregistration.k8s.io", "MutatingWebhookConfiguration"}, {webhook_cols, WebhookConfigRow}});
  m.push_back({{"admissionregistration.k8s.io", "ValidatingAdmissionPolicy"},
               {{NameColumn(), Column("Validations", "integer", "Number of validation rules."),
                 Column("ParamKind", "string", "Kind of the parameter resource."), AgeColumn()},
                AdmissionPolicyRow}});
  m.push_back({{"admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"},
               {{NameColumn(), Column("PolicyName", "string", "Bound policy."), Column("ParamRef", "string", "Parameter resource."), AgeColumn()},
                AdmissionPolicyBindingRow}});
  m.push_back({{"flowcontrol.apiserver.k8s.io", "FlowSchema"},
               {{NameColumn(), Column("PriorityLevel", "string", "Priority level."), Column("MatchingPrecedence", "string", "Match order."),
                 Column("DistinguisherMethod", "string", "How flows are told apart."), AgeColumn(),
                 Column("MissingPL", "string", "Whether the priority level is missing.")},
                FlowSchemaRow}});
  m.push_back({{"flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"},
               {{NameColumn(), Column("Type", "string", "Limited or Exempt."),
                 Column("NominalConcurrencyShares", "string", "Concurrency shares."), Column("Queues", "string", "Queues."),
                 Column("HandSize", "string", "Shuffle-sharding hand size."), Column("QueueLengthLimit", "string", "Queue length limit."),
                 AgeColumn()},
                PriorityLevelRow}});
  m.push_back({{"apiextensions.k8s.io", "CustomResourceDefinition"}, {CreatedAtColumns(), CreatedAtRow}});
  m.push_back({{"apiregistration.k8s.io", "APIService"},
               {{NameColumn(), Column("Service", "string", "Backing service or Local."),
                 Column("Available", "string", "Availability of the API."), AgeColumn()},
                APIServiceRow}});
}

}  // namespace tug::api::printers
