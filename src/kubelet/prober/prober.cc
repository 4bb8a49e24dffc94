#include "kubelet/prober/prober.h"

#include "base/log.h"

namespace tug::kubelet::prober {

const char* KindName(ProbeKind k) {
  switch (k) {
    case ProbeKind::kLiveness: return "Liveness";
    case ProbeKind::kReadiness: return "Readiness";
    case ProbeKind::kStartup: return "Startup";
  }
  return "";
}

const char* KindField(ProbeKind k) {
  switch (k) {
    case ProbeKind::kLiveness: return "livenessProbe";
    case ProbeKind::kReadiness: return "readinessProbe";
    case ProbeKind::kStartup: return "startupProbe";
  }
  return "";
}

ProbeSpec ParseProbe(const Json& probe, ProbeKind kind) {
  ProbeSpec s;
  s.probe = probe;
  auto num = [&](const char* key, int64_t def, int64_t min) -> int64_t {
    if (const Json* v = Find(probe, key); v && v->is_number_integer() && v->get<int64_t>() >= min)
      return v->get<int64_t>();
    return def;
  };
  s.initial_delay = std::chrono::seconds(num("initialDelaySeconds", 0, 0));
  s.period = std::chrono::seconds(num("periodSeconds", 10, 1));
  s.timeout = std::chrono::seconds(num("timeoutSeconds", 1, 1));
  s.success_threshold = static_cast<int>(num("successThreshold", 1, 1));
  s.failure_threshold = static_cast<int>(num("failureThreshold", 3, 1));
  if (kind != ProbeKind::kReadiness) s.success_threshold = 1;
  if (const Json* v = Find(probe, "terminationGracePeriodSeconds"); v && v->is_number_integer())
    s.termination_grace_seconds = v->get<int64_t>();
  return s;
}

ProbeWorker::ProbeWorker(ProbeKind kind, ProbeSpec spec) : kind_(kind), spec_(std::move(spec)) { Reset(); }

void ProbeWorker::Reset() {
  // kubelet's initial values: not ready until proven, alive until proven otherwise, startup unknown.
  result_ = kind_ == ProbeKind::kReadiness ? ProbeResult::kFailure
            : kind_ == ProbeKind::kLiveness ? ProbeResult::kSuccess
                                            : ProbeResult::kUnknown;
  last_ = ProbeResult::kUnknown;
  run_ = 0;
  on_hold_ = false;
}

bool ProbeWorker::Latch(ProbeResult r) {
  bool changed = result_ != r;
  result_ = r;
  return changed;
}

ProbeWorker::Step ProbeWorker::Decide(const ContainerView& view, SystemTime now) {
  if (on_hold_) return Step::kSkip;
  if (!view.running) {
    if (view.exited) {
      Latch(ProbeResult::kFailure);
      return view.will_restart ? Step::kSkip : Step::kStop;
    }
    return Step::kSkip;  // not started yet
  }
  if (view.pod_deleting && (kind_ == ProbeKind::kLiveness || kind_ == ProbeKind::kStartup)) {
    Latch(ProbeResult::kSuccess);
    return Step::kStop;
  }
  if (now - view.started_at < spec_.initial_delay) return Step::kSkip;
  if (view.started) {
    if (kind_ == ProbeKind::kStartup) return Step::kSkip;
  } else if (kind_ != ProbeKind::kStartup) {
    return Step::kSkip;
  }
  return Step::kProbe;
}

bool ProbeWorker::Observe(ProbeResult r) {
  if (r == ProbeResult::kUnknown || on_hold_) return false;
  if (r == last_) {
    ++run_;
  } else {
    last_ = r;
    run_ = 1;
  }
  if ((r == ProbeResult::kFailure && run_ < spec_.failure_threshold) ||
      (r == ProbeResult::kSuccess && run_ < spec_.success_threshold))
    return false;
  bool changed = Latch(r);
  if (r == ProbeResult::kFailure && (kind_ == ProbeKind::kLiveness || kind_ == ProbeKind::kStartup)) {
    // The container will be killed; no more probing until a new instance appears.
    on_hold_ = true;
    run_ = 0;
  }
  return changed;
}

ProbeManager::ProbeManager(ProbeManagerOptions opts)
    : opts_(std::move(opts)), clock_(opts_.clock ? *opts_.clock : RealClock()) {}

ProbeManager::~ProbeManager() {
  std::map<Key, std::unique_ptr<Worker>> doomed;
  {
    std::lock_guard l(mu_);
    doomed.swap(workers_);
  }
  for (auto& [k, w] : doomed) w->thread.request_stop();
  doomed.clear();  // joins
}

void ProbeManager::UpdatePod(const Json& pod, const std::string& pod_ip, const std::vector<ContainerInstance>& containers) {
  std::string uid = GetStringPath(pod, {"metadata", "uid"});
  std::string key = GetStringPath(pod, {"metadata", "namespace"}) + "/" + GetStringPath(pod, {"metadata", "name"});
  std::string policy = GetStringPath(pod, {"spec", "restartPolicy"}, "Always");
  bool deleting = FindPath(pod, {"metadata", "deletionTimestamp"}) != nullptr;
  const Json* specs = FindPath(pod, {"spec", "containers"});
  if (!specs || !specs->is_array()) return;
  std::lock_guard l(mu_);
  for (const Json& c : *specs) {
    std::string name = GetString(c, "name");
    const ContainerInstance* inst = nullptr;
    for (const auto& i : containers)
      if (i.name == name) inst = &i;
    for (ProbeKind kind : {ProbeKind::kStartup, ProbeKind::kLiveness, ProbeKind::kReadiness}) {
      const Json* probe = Find(c, KindField(kind));
      if (!probe || !probe->is_object()) continue;
      auto& slot = workers_[{uid, name, kind}];
      bool fresh = !slot;
      if (fresh) slot = std::make_unique<Worker>(ProbeWorker(kind, ParseProbe(*probe, kind)));
      Worker* w = slot.get();
      w->pod_key = key;
      w->uid = uid;
      w->container_name = name;
      w->pod = pod;
      w->container = c;
      w->pod_ip = pod_ip;
      ContainerView v;
      if (inst) {
        v.running = inst->running;
        v.exited = inst->exited;
        v.started_at = inst->started_at;
      }
      v.pod_deleting = deleting;
      v.will_restart = policy == "Always" || policy == "OnFailure";
      w->view = v;
      std::string id = inst ? inst->id : "";
      if (id != w->container_id) {
        w->container_id = id;
        w->state.Reset();
        w->wake = true;
      }
      if (fresh) w->thread = std::jthread([this, w](std::stop_token st) { Run(w, st); });
    }
  }
  cv_.notify_all();
}

void ProbeManager::RemovePod(const std::string& uid) {
  std::vector<std::unique_ptr<Worker>> doomed;
  {
    std::lock_guard l(mu_);
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (std::get<0>(it->first) == uid) {
        doomed.push_back(std::move(it->second));
        it = workers_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& w : doomed) w->thread.request_stop();
  doomed.clear();
}

const ProbeManager::Worker* ProbeManager::FindWorker(const std::string& uid, const std::string& name, ProbeKind kind) const {
  auto it = workers_.find({uid, name, kind});
  return it == workers_.end() ? nullptr : it->second.get();
}

bool ProbeManager::Started(const std::string& uid, const std::string& name, const std::string& id) const {
  std::lock_guard l(mu_);
  const Worker* w = FindWorker(uid, name, ProbeKind::kStartup);
  return !w || (w->container_id == id && w->state.result() == ProbeResult::kSuccess);
}

bool ProbeManager::Ready(const std::string& uid, const std::string& name, const std::string& id) const {
  std::lock_guard l(mu_);
  const Worker* w = FindWorker(uid, name, ProbeKind::kReadiness);
  return !w || (w->container_id == id && w->state.result() == ProbeResult::kSuccess);
}

std::optional<ProbeKind> ProbeManager::FailedLiveness(const std::string& uid, const std::string& name,
                                                      const std::string& id) const {
  std::lock_guard l(mu_);
  for (ProbeKind kind : {ProbeKind::kStartup, ProbeKind::kLiveness}) {
    const Worker* w = FindWorker(uid, name, kind);
    if (w && w->container_id == id && w->view.running && w->state.result() == ProbeResult::kFailure) return kind;
  }
  return std::nullopt;
}

std::optional<int64_t> ProbeManager::ProbeGrace(const std::string& uid, const std::string& name, ProbeKind kind) const {
  std::lock_guard l(mu_);
  const Worker* w = FindWorker(uid, name, kind);
  return w ? w->state.spec().termination_grace_seconds : std::nullopt;
}

void ProbeManager::Run(Worker* w, std::stop_token stop) {
  std::unique_lock l(mu_);
  while (!stop.stop_requested()) {
    w->wake = false;
    ProbeResult before = w->state.result();
    bool changed = false;
    if (!w->container_id.empty()) {
      ContainerView v = w->view;
      const Worker* startup = FindWorker(w->uid, w->container_name, ProbeKind::kStartup);
      v.started = !startup || (startup->container_id == w->container_id &&
                               startup->state.result() == ProbeResult::kSuccess);
      auto step = w->state.Decide(v, clock_.Now());
      changed = w->state.result() != before;
      if (step == ProbeWorker::Step::kProbe) {
        HandlerContext ctx{w->container_id, w->pod_ip, w->container, opts_.exec};
        Json probe = w->state.spec().probe;
        Json pod = w->pod;
        std::string id = w->container_id;
        ProbeKind kind = w->state.kind();
        l.unlock();
        ProbeOutcome out = opts_.run(probe, ctx);
        if (out.result != ProbeResult::kSuccess) {
          TUG_VLOG(1, "prober") << "probe did not succeed" << kv("kind", KindName(kind)) << kv("container", id)
                                << kv("result", ToString(out.result)) << kv("output", out.output);
          if (opts_.on_event)
            opts_.on_event(pod, "Warning", "Unhealthy",
                           std::string(KindName(kind)) +
                               (out.result == ProbeResult::kFailure ? " probe failed: " : " probe errored: ") +
                               out.output);
        }
        l.lock();
        if (w->container_id == id && !stop.stop_requested()) changed = w->state.Observe(out.result) || changed;
      }
    }
    if (changed && opts_.on_change) {
      std::string key = w->pod_key;
      l.unlock();
      opts_.on_change(key);
      l.lock();
    }
    cv_.wait_for(l, stop, w->state.spec().period, [w] { return w->wake; });
  }
}

}  // namespace tug::kubelet::prober
