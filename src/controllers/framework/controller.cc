#include "controllers/framework/controller.h"

#include "base/log.h"

namespace tug::controllers::framework {

Controller::Controller(std::string name, const ControllerContext& ctx)
    : name_(std::move(name)),
      client_(ctx.client),
      informers_(ctx.informers),
      clock_(ctx.clock ? ctx.clock : &RealClock()),
      queue_(client::WorkQueueOptions{.base_delay = ctx.queue_base_delay, .max_delay = ctx.queue_max_delay, .clock = nullptr}) {
  recorder_ = std::make_unique<client::EventRecorder>(
      *client_, client::EventSource{.component = name_ + "-controller", .host = "", .clock = clock_});
}

Controller::~Controller() { Stop(); }

client::Informer& Controller::Informer(const client::Resource& r) { return informers_->For(r); }

client::EventHandler Controller::EnqueueHandler() {
  return client::EventHandler{
      .on_add = [this](const client::ObjectPtr& o) { Enqueue(*o); },
      .on_update = [this](const client::ObjectPtr&, const client::ObjectPtr& n) { Enqueue(*n); },
      .on_delete = [this](const client::ObjectPtr& o) { Enqueue(*o); },
  };
}

void Controller::Run(int workers) {
  if (workers < 1) workers = 1;
  TUG_LOG(INFO, "controllers") << "starting controller" << kv("controller", name_) << kv("workers", workers);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this] { Worker(); });
}

void Controller::Stop() {
  if (stopped_.exchange(true)) return;
  queue_.ShutDown();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
  workers_.clear();
  if (recorder_) recorder_->Flush();
}

void Controller::Worker() {
  while (auto key = queue_.Get()) {
    Status st = Sync(*key);
    if (st.ok()) {
      queue_.Forget(*key);
    } else {
      // C4: the code says what happens next; every error is a rate-limited retry, and normal
      // races (stale cache, concurrent writers) are not worth a warning.
      StatusCode c = st.code();
      if (c == StatusCode::kConflict || c == StatusCode::kNotFound || c == StatusCode::kAlreadyExists) {
        TUG_VLOG(2, "controllers") << "sync retry" << kv("controller", name_) << kv("key", *key)
                                   << kv("error", st.ToString());
      } else {
        TUG_LOG(WARNING, "controllers") << "sync failed" << kv("controller", name_) << kv("key", *key)
                                        << kv("error", st.ToString());
      }
      queue_.AddRateLimited(*key);
    }
    queue_.Done(*key);
  }
}

}  // namespace tug::controllers::framework
