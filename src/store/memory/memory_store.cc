#include "store/memory/memory_store.h"

#include <mutex>
#include <utility>

#include "store/internal/engine.h"

namespace tug::store {
namespace {

using internal::Op;
using internal::OpType;

class MemoryStore final : public Store {
 public:
  MemoryStore() : engine_(/*max_window=*/0) {}

  Result<KeyValue> Get(std::string_view key) override { return engine_.Get(key); }

  Result<ListResult> List(std::string_view prefix, const ListOptions& opts) override {
    bool needs_log = false;
    auto r = engine_.List(prefix, opts, &needs_log);
    // The window is unbounded, so everything above the compacted revision is in memory.
    if (r.ok() && needs_log) return InternalError("memory store history missing");
    return r;
  }

  Result<int64_t> Count(std::string_view prefix) override { return engine_.Count(prefix); }

  Result<int64_t> Create(std::string_view key, Value value) override {
    ASSIGN_OR_RETURN(internal::Record rec, Write(Op{OpType::kCreate, std::string(key), std::move(value), 0}));
    return rec.revision();
  }
  Result<int64_t> Update(std::string_view key, Value value, int64_t expected) override {
    ASSIGN_OR_RETURN(internal::Record rec, Write(Op{OpType::kUpdate, std::string(key), std::move(value), expected}));
    return rec.revision();
  }
  Result<KeyValue> Delete(std::string_view key, int64_t expected) override {
    ASSIGN_OR_RETURN(internal::Record rec, Write(Op{OpType::kDelete, std::string(key), nullptr, expected}));
    return rec.ev.kv;
  }

  Result<WatchHandlePtr> Watch(std::string_view prefix, int64_t from, WatchCallback cb) override {
    ASSIGN_OR_RETURN(auto ws, engine_.StartWatch(prefix, from, std::move(cb)));
    if (ws.log_to > ws.log_from) {  // cannot happen with an unbounded window
      engine_.CancelWatch(ws.id);
      return InternalError("memory store history missing");
    }
    engine_.FinishWatch(ws.id, std::move(ws.memory_history));
    return engine_.MakeHandle(ws.id);
  }

  void ShareValues(std::span<const SharedValue> values) override { engine_.ShareValues(values); }
  Status Compact(int64_t revision) override { return engine_.Compact(revision); }
  int64_t CurrentRevision() const override { return engine_.CurrentRevision(); }
  int64_t CompactedRevision() const override { return engine_.CompactedRevision(); }

 private:
  Result<internal::Record> Write(const Op& op) {
    std::lock_guard<std::mutex> l(write_mu_);
    std::optional<KeyValue> existing = engine_.Lookup(op.key);
    ASSIGN_OR_RETURN(internal::Record rec,
                     internal::BuildRecord(op, existing ? &*existing : nullptr, engine_.CurrentRevision() + 1));
    engine_.Apply({rec});
    return rec;
  }

  std::mutex write_mu_;
  internal::Engine engine_;
};

}  // namespace

StorePtr NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace tug::store
