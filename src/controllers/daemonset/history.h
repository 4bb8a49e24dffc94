// ControllerRevision history shared by the DaemonSet and StatefulSet controllers (upstream
// controller/history + each controller's constructHistory/truncateHistory): revisions are
// ControllerRevision objects named "<owner>-<hash>", labelled controller-revision-hash, owned
// by the workload, numbered 1, 2, ...; a template that returns to an earlier revision reuses it
// with a new, highest number (as `kubectl rollout undo` expects).
//
// Thread-safety: free functions; the Client is safe for concurrent use.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/json.h"
#include "base/status.h"
#include "client/client.h"
#include "client/informer.h"

namespace tug::controllers::daemonset {

inline constexpr char kRevisionHashLabel[] = "controller-revision-hash";

// FNV-32a of the object's JSON (and the collision count when > 0), in upstream's "safe"
// alphabet (rand.SafeEncodeString of the decimal hash): e.g. "5d8f7b6c9".
std::string ComputeHash(const Json& obj, int64_t collision_count);

// Revision data as upstream stores it: {"spec":{"template":{...,"$patch":"replace"}}}.
Json TemplatePatch(const Json& pod_template);

// Revisions of `owner` (controller ref uid) among `all`, sorted by .revision then name.
std::vector<client::ObjectPtr> OwnedRevisions(const Json& owner, const std::vector<client::ObjectPtr>& all);

struct EnsureResult {
  Json current;       // the ControllerRevision for `data` (created, reused or renumbered)
  int64_t max_revision = 0;
};
// Finds the revision whose data equals `data` (or creates "<owner>-<hash>" with the next
// revision number, with `labels` + controller-revision-hash). Reusing an older one bumps its
// revision to the highest number. Errors: API errors; Conflict when another object holds the
// name (hash collision: the caller bumps status.collisionCount).
Result<EnsureResult> EnsureRevision(const client::Client& c, const Json& owner, const std::string& owner_api_version,
                                    const std::string& owner_kind, const Json& data, const std::string& hash,
                                    const Json& labels, const std::vector<client::ObjectPtr>& owned);

// Deletes the oldest revisions beyond `limit` whose names are not in `keep`.
Status TruncateHistory(const client::Client& c, const std::vector<client::ObjectPtr>& owned, int64_t limit,
                       const std::vector<std::string>& keep);

}  // namespace tug::controllers::daemonset
