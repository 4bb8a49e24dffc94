// HPA controller; see hpa_controller.h.
#include "controllers/hpa/hpa_controller.h"

#include <algorithm>
#include <cmath>

#include "api/quantity.h"
#include "base/log.h"

namespace tug::controllers::hpa {
namespace {

using framework::GetInt;

std::string Name(const Json& o) { return GetStringPath(o, {"metadata", "name"}); }
std::string Ns(const Json& o) { return GetStringPath(o, {"metadata", "namespace"}); }

// Status equality as the API server stores it: omitted zero values (0, "", false, {}, [], null)
// equal absent ones, so a status write that only adds zeros is not a change.
Json PruneZeros(const Json& j) {
  if (j.is_object()) {
    Json out = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      Json v = PruneZeros(it.value());
      bool zero = v.is_null() || (v.is_number() && v == 0) || (v.is_string() && v.get<std::string>().empty()) ||
                  (v.is_boolean() && !v.get<bool>()) || (v.is_object() && v.empty()) || (v.is_array() && v.empty());
      if (!zero) out[it.key()] = v;
    }
    return out;
  }
  if (j.is_array()) {
    Json out = Json::array();
    for (const Json& v : j) out.push_back(PruneZeros(v));
    return out;
  }
  return j;
}
bool SameStatus(const Json& a, const Json& b) { return PruneZeros(a) == PruneZeros(b); }

const client::Resource* TargetResource(const std::string& kind) {
  if (kind == "Deployment") return &client::kDeployments;
  if (kind == "ReplicaSet") return &client::kReplicaSets;
  if (kind == "StatefulSet") return &client::kStatefulSets;
  if (kind == "ReplicationController") return &client::kReplicationControllers;
  return nullptr;
}

// Upstream's client-go rendering of a 404 from an aggregated API group.
std::string NotFoundText(const Status& st) {
  if (st.code() == StatusCode::kNotFound) return "the server could not find the requested resource (get pods.metrics.k8s.io)";
  return st.message();
}

client::HttpRequest Req(const char* method, std::string path) {
  client::HttpRequest r;
  r.method = method;
  r.path = std::move(path);
  return r;
}

std::string FormatMilli(int64_t m) {
  if (m % 1000 == 0) return std::to_string(m / 1000);
  return std::to_string(m) + "m";
}

}  // namespace

HpaController::HpaController(const framework::ControllerContext& ctx, HpaOptions opts)
    : Controller("horizontal-pod-autoscaler", ctx), opts_(opts) {
  hpas_ = &Informer(client::kHorizontalPodAutoscalers);
  pods_ = &Informer(client::kPods);
  hpas_->AddHandler(client::EventHandler{
      .on_add = [this](const client::ObjectPtr& o) { Enqueue(*o); },
      // Status writes of our own come back as updates; only spec changes need an early look.
      .on_update =
          [this](const client::ObjectPtr& o, const client::ObjectPtr& n) {
            if ((*o).value("spec", Json()) != (*n).value("spec", Json())) Enqueue(*n);
          },
      .on_delete = nullptr,
  });
}

HpaController::~HpaController() { Stop(); }

std::unique_ptr<framework::Controller> NewHpaController(const framework::ControllerContext& ctx) {
  return std::make_unique<HpaController>(ctx);
}

Status HpaController::Sync(const std::string& key) {
  client::ObjectPtr obj = hpas_->Get(key);
  if (!obj) return Status::Ok();
  // Level-triggered on a period, as upstream's resync.
  EnqueueAfter(key, opts_.sync_period);
  Json hpa = *obj;
  const Json old_status = hpa.value("status", Json::object());
  if (!hpa.contains("status") || !hpa["status"].is_object()) hpa["status"] = Json::object();
  const SystemTime now = clock().Now();
  Json& st = hpa["status"];
  const std::string ns = Ns(hpa);
  const Json& spec = hpa["spec"];
  const std::string kind = GetStringPath(spec, {"scaleTargetRef", "kind"});
  const std::string target = GetStringPath(spec, {"scaleTargetRef", "name"});
  const std::string reference = kind + "/" + target;
  auto cond = [&](const char* type, const char* status, const std::string& reason, const std::string& msg) {
    framework::SetCondition(hpa, type, status, reason, msg, now, false);
  };
  auto write = [&]() -> Status {
    if (SameStatus(hpa["status"], old_status)) return Status::Ok();
    auto r = client().UpdateStatus(client::kHorizontalPodAutoscalers, ns, hpa);
    if (!r.ok() && r.status().code() != StatusCode::kNotFound) return r.status();
    return Status::Ok();
  };

  // The target's scale.
  const client::Resource* res = TargetResource(kind);
  Result<Json> scale = res ? client().DoJson(Req("GET", res->Path(ns, target, "scale")))
                           : Result<Json>(NotFoundError("no matches for kind \"" + kind + "\""));
  if (!scale.ok()) {
    std::string msg = "the HPA controller was unable to get the target's current scale: " + scale.status().message();
    recorder().Record(hpa, "Warning", "FailedGetScale", scale.status().message());
    cond("AbleToScale", "False", "FailedGetScale", msg);
    RETURN_IF_ERROR(write());
    return Status::Ok();
  }
  cond("AbleToScale", "True", "SucceededGetScale", "the HPA controller was able to get the target's current scale");
  const int64_t current = GetInt(*scale, {"spec", "replicas"});
  const int64_t min_r = GetInt(spec, {"minReplicas"}, 1);
  const int64_t max_r = GetInt(spec, {"maxReplicas"}, 1);
  st["currentReplicas"] = current;
  if (!st.contains("desiredReplicas")) st["desiredReplicas"] = current;
  if (current == 0 && min_r != 0) {
    st["desiredReplicas"] = 0;
    cond("ScalingActive", "False", "ScalingDisabled", "scaling is disabled since the replica count of the target is zero");
    return write();
  }

  // Metrics.
  std::string selector_text = GetStringPath(*scale, {"status", "selector"});
  const Json* metrics = Find(spec, "metrics");
  Json metric_statuses = Json::array();
  int64_t proposal = -1;
  std::string proposal_metric;
  std::string first_error, first_reason, first_resource;
  int invalid = 0, total = 0;
  Result<Json> pod_metrics = InternalError("not fetched");
  bool fetched = false;
  if (metrics && metrics->is_array()) {
    for (const Json& m : *metrics) {
      ++total;
      if (GetString(m, "type") != "Resource") {
        ++invalid;
        metric_statuses.push_back(Json::object());
        if (first_error.empty()) {
          first_reason = "FailedGetExternalMetric";
          first_error = "unsupported metric source type \"" + GetString(m, "type") + "\"";
        }
        continue;
      }
      std::string resource = GetStringPath(m, {"resource", "name"});
      if (!fetched) {
        client::HttpRequest req = Req("GET", "/apis/metrics.k8s.io/v1beta1/namespaces/" + ns + "/pods");
        if (!selector_text.empty()) req.query = "labelSelector=" + client::QueryEscape(selector_text);
        pod_metrics = client().DoJson(req);
        fetched = true;
      }
      std::string what = GetStringPath(m, {"resource", "target", "type"}) == "Utilization" ? "utilization" : "usage";
      if (!pod_metrics.ok()) {
        std::string err = "failed to get " + resource + " " + what + ": unable to get metrics for resource " + resource +
                          ": unable to fetch metrics from resource metrics API: " + NotFoundText(pod_metrics.status());
        recorder().Record(hpa, "Warning", "FailedGetResourceMetric", err);
        ++invalid;
        metric_statuses.push_back(Json::object());
        if (first_error.empty()) {
          first_reason = "FailedGetResourceMetric";
          first_error = err;
          first_resource = resource;
        }
        continue;
      }
      // Sum usage and requests over the ready, running pods that report metrics.
      auto sel = client::LabelSelector::Parse(selector_text);
      int64_t usage = 0, requests = 0, n = 0;
      std::string missing_request;  // upstream's calculatePodRequests error, first container without one
      for (const Json& pm : (*pod_metrics).value("items", Json::array())) {
        client::ObjectPtr pod = pods_->Get(ns + "/" + Name(pm));
        if (!pod || GetStringPath(*pod, {"status", "phase"}) != "Running" || framework::IsBeingDeleted(*pod)) continue;
        if (sel.ok() && !sel->Matches(FindPath(*pod, {"metadata", "labels"}))) continue;
        int64_t u = 0, rq = 0;
        for (const Json& c : pm.value("containers", Json::array())) {
          u += api::ParseScaled(GetStringPath(c, {"usage", resource}, "0"), -3).value_or(0);
        }
        for (const Json& c : (*pod)["spec"].value("containers", Json::array())) {
          const Json* req_q = FindPath(c, {"resources", "requests", resource});
          if (!req_q && missing_request.empty())
            missing_request = "missing request for " + resource + " in container " + GetString(c, "name") + " of Pod " + Name(*pod);
          if (req_q) rq += api::ParseScaledJson(*req_q, -3).value_or(0);
        }
        usage += u;
        requests += rq;
        ++n;
      }
      if (n == 0) {
        std::string err = "failed to get " + resource + " " + what + ": unable to get metrics for resource " + resource +
                          ": no metrics returned from resource metrics API";
        recorder().Record(hpa, "Warning", "FailedGetResourceMetric", err);
        ++invalid;
        metric_statuses.push_back(Json::object());
        if (first_error.empty()) {
          first_reason = "FailedGetResourceMetric";
          first_error = err;
          first_resource = resource;
        }
        continue;
      }
      double ratio;
      Json current_m = Json::object();
      if (what == "utilization") {
        if (!missing_request.empty() || requests == 0) {
          std::string err = "failed to get " + resource + " utilization: " +
                            (missing_request.empty() ? "missing request for " + resource : missing_request);
          recorder().Record(hpa, "Warning", "FailedGetResourceMetric", err);
          ++invalid;
          metric_statuses.push_back(Json::object());
          if (first_error.empty()) {
            first_reason = "FailedGetResourceMetric";
            first_error = err;
          }
          continue;
        }
        int64_t util = usage * 100 / requests;
        int64_t target_util = GetInt(m, {"resource", "target", "averageUtilization"}, 80);
        ratio = static_cast<double>(util) / static_cast<double>(std::max<int64_t>(target_util, 1));
        current_m = {{"averageUtilization", util}, {"averageValue", FormatMilli(usage / n)}};
      } else {
        int64_t target_v = api::ParseScaled(GetStringPath(m, {"resource", "target", "averageValue"}, "0"), -3).value_or(0);
        ratio = target_v > 0 ? static_cast<double>(usage) / static_cast<double>(n) / static_cast<double>(target_v) : 1.0;
        current_m = {{"averageValue", FormatMilli(usage / n)}};
      }
      int64_t want = std::fabs(ratio - 1.0) <= opts_.tolerance ? current : static_cast<int64_t>(std::ceil(ratio * static_cast<double>(n)));
      if (want > proposal) {
        proposal = want;
        // Upstream names the metric whose proposal won.
        proposal_metric = what == "utilization" ? resource + " resource utilization (percentage of request)" : resource + " resource";
      }
      metric_statuses.push_back({{"type", "Resource"}, {"resource", {{"name", resource}, {"current", current_m}}}});
    }
  }
  st["currentMetrics"] = metric_statuses;
  if (total > 0 && (invalid >= total || (invalid > 0 && proposal < current))) {
    cond("ScalingActive", "False", first_reason, "the HPA was unable to compute the replica count: " + first_error);
    st["desiredReplicas"] = current;
    RETURN_IF_ERROR(write());
    recorder().Record(hpa, "Warning", "FailedComputeMetricsReplicas",
                      "invalid metrics (" + std::to_string(invalid) + " invalid out of " + std::to_string(total) +
                          "), first error is: failed to get " +
                          (first_resource.empty() ? std::string() : first_resource + " resource metric value: ") +
                          first_error);
    return Status::Ok();
  }
  cond("ScalingActive", "True", "ValidMetricFound",
       "the HPA was able to successfully calculate a replica count from " + (proposal_metric.empty() ? std::string("metrics") : proposal_metric));
  int64_t desired = proposal < 0 ? current : proposal;
  if (desired > max_r) {
    desired = max_r;
    cond("ScalingLimited", "True", "TooManyReplicas", "the desired replica count is more than the maximum replica count");
  } else if (desired < min_r) {
    desired = min_r;
    cond("ScalingLimited", "True", "TooFewReplicas", "the desired replica count is less than the minimum replica count");
  } else {
    cond("ScalingLimited", "False", "DesiredWithinRange", "the desired count is within the acceptable range");
  }
  st["desiredReplicas"] = desired;
  if (desired != current) {
    Json sc = *scale;
    sc["spec"]["replicas"] = desired;
    client::HttpRequest put = Req("PUT", res->Path(ns, target, "scale"));
    put.content_type = "application/json";
    put.body = DumpJson(sc);
    auto r = client().DoJson(put);
    if (!r.ok()) {
      recorder().Record(hpa, "Warning", "FailedRescale", "New size: " + std::to_string(desired) + "; reason: " + r.status().message());
      cond("AbleToScale", "False", "FailedUpdateScale", "the HPA controller was unable to update the target scale: " + r.status().message());
      RETURN_IF_ERROR(write());
      return r.status();
    }
    std::string why = desired > current ? "All metrics above target" : "All metrics below target";
    recorder().Record(hpa, "Normal", "SuccessfulRescale", "New size: " + std::to_string(desired) + "; reason: " + why);
    cond("AbleToScale", "True", "SucceededRescale", "the HPA controller was able to update the target scale to " + std::to_string(desired));
    st["lastScaleTime"] = FormatRFC3339(now);
    TUG_LOG(INFO, "hpa") << "rescaled" << kv("hpa", key) << kv("target", reference) << kv("replicas", desired);
  }
  return write();
}

}  // namespace tug::controllers::hpa
