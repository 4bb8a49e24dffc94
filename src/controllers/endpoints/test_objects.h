// Test objects shared by the endpoints and endpointslice tests: Services, pods in given states,
// nodes; and helpers that write them through a Client. Test-only (not in the library).
#pragma once

#include <memory>
#include <string>

#include "base/json.h"
#include "client/client.h"
#include "client/informer.h"

namespace tug::controllers::endpoints::testobj {

// A ClusterIP Service selecting app=<app>, with one port 80 -> target (a number or a name).
inline Json Service(const std::string& name, const std::string& app, Json target = 8080) {
  return Json{{"apiVersion", "v1"},
              {"kind", "Service"},
              {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "svc-uid-" + name},
                            {"labels", {{"team", "a"}}}, {"creationTimestamp", "2026-01-01T00:00:00Z"}}},
              {"spec",
               {{"selector", {{"app", app}}},
                {"clusterIP", "10.96.0.10"},
                {"ipFamilies", Json::array({"IPv4"})},
                {"ports", Json::array({{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}, {"targetPort", target}}})}}}};
}

struct PodState {
  std::string ip = "10.1.0.1";
  bool ready = true;
  std::string phase = "Running";
  bool terminating = false;
  std::string node = "n1";
  std::string ready_at = "2026-01-01T00:00:10Z";
};

// A pod app=<app> with container port "web"=8080, in `st`.
inline Json Pod(const std::string& name, const std::string& app, const PodState& st = {}) {
  Json p = {{"apiVersion", "v1"},
            {"kind", "Pod"},
            {"metadata", {{"name", name}, {"namespace", "default"}, {"uid", "uid-" + name}, {"labels", {{"app", app}}}}},
            {"spec",
             {{"containers",
               Json::array({{{"name", "c"}, {"image", "busybox"},
                             {"ports", Json::array({{{"name", "web"}, {"containerPort", 8080}, {"protocol", "TCP"}}})}}})}}},
            {"status", {{"phase", st.phase}}}};
  if (!st.node.empty()) p["spec"]["nodeName"] = st.node;
  if (!st.ip.empty()) {
    p["status"]["podIP"] = st.ip;
    p["status"]["podIPs"] = Json::array({{{"ip", st.ip}}});
  }
  p["status"]["conditions"] = Json::array(
      {{{"type", "Ready"}, {"status", st.ready ? "True" : "False"}, {"lastTransitionTime", st.ready_at}}});
  if (st.terminating) p["metadata"]["deletionTimestamp"] = "2026-01-02T00:00:00Z";
  return p;
}

inline client::ObjectPtr Ptr(Json j) { return std::make_shared<const Json>(std::move(j)); }

// Creates the pod (spec) and then writes its status, as a kubelet would. Returns the stored pod.
inline Result<Json> CreatePod(const client::Client& c, Json pod) {
  Json status = pod["status"];
  pod.erase("status");
  pod["metadata"].erase("uid");
  ASSIGN_OR_RETURN(Json created, c.Create(client::kPods, "default", pod));
  created["status"] = status;
  return c.UpdateStatus(client::kPods, "default", created);
}

inline Result<Json> CreateNode(const client::Client& c, const std::string& name, const std::string& zone = "") {
  Json n = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
  if (!zone.empty()) n["metadata"]["labels"]["topology.kubernetes.io/zone"] = zone;
  return c.Create(client::kNodes, "", n);
}

// A Service as the API server would store it (no uid/creationTimestamp/clusterIP: allocated).
inline Json NewService(const std::string& name, const std::string& app, Json target = 8080) {
  Json s = Service(name, app, std::move(target));
  s["metadata"].erase("uid");
  s["metadata"].erase("creationTimestamp");
  s["spec"].erase("clusterIP");
  s["spec"].erase("ipFamilies");
  return s;
}

// Delete options for an immediate delete (grace period 0).
inline client::DeleteOptions DeleteNow() {
  client::DeleteOptions o;
  o.grace_period_seconds = 0;
  return o;
}

}  // namespace tug::controllers::endpoints::testobj
