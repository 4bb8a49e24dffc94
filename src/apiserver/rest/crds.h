// CustomResourceDefinitions in the REST layer (issue 4 item 2): the published API snapshot
// (registry + discovery documents + OpenAPI, swapped atomically when the set of established
// CRDs changes), the strategies of CRDs and of custom objects, and the CRD controller thread
// that keeps CRD status, the served registry and CRD deletion (instance cleanup) converging.
//
// The library side (schemas, validation, defaulting, printer columns, status) is api/crd; this
// file only wires it into the generic handler (handler.{h,cc}).
//
// Ownership: an ApiSnapshot owns the documents and strategies it serves and shares its
// registry; requests hold a shared_ptr to the snapshot they started with, so a swap never
// invalidates an in-flight request. CrdController owns its thread; Stop() joins it.
// Thread-safety: ApiSnapshot is immutable after Build except its lazily built OpenAPI documents
// (std::call_once). Strategies are stateless after construction. CrdController is thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/crd/crd.h"
#include "api/openapi.h"
#include "api/schema.h"
#include "api/strategy.h"
#include "base/json.h"

namespace tug::apiserver::rest {

inline constexpr char kCrdGroup[] = "apiextensions.k8s.io";
inline constexpr char kCrdCleanupFinalizer[] = "customresourcecleanup.apiextensions.k8s.io";

// True for apiextensions.k8s.io customresourcedefinitions (any version).
bool IsCrdResource(const api::ResourceDef& res);

// A DELETE of a CRD that is not yet deleting adds the instance-cleanup finalizer to `fins`
// (the finalizers the object will have), as upstream's CRD storage does.
void AddCrdCleanupFinalizer(const api::ResourceDef& res, const Json& obj, Json& fins);

// The strategy of custom objects of one served version of one CRD: status-subresource rules,
// defaulting and pruning by the version's schema, schema validation, printer columns.
class CustomResourceStrategy final : public api::Strategy {
 public:
  CustomResourceStrategy(const Json& crd, const api::ResourceDef& res);

  void PrepareForCreate(Json& obj) const override;
  void PrepareForUpdate(Json& obj, const Json& old) const override;
  void Default(Json& obj) const override;
  api::FieldErrors Validate(const Json& obj) const override;
  std::vector<api::TableColumn> Columns() const override;
  Json Row(const Json& obj, SystemTime now) const override;

  // Paths (as "spec.foo") of fields in obj that the schema does not describe (what pruning
  // would drop), for fieldValidation's "unknown field" reports.
  std::vector<std::string> UnknownFields(const Json& obj) const;

  bool has_status() const { return has_status_; }
  bool has_scale() const { return has_scale_; }
  // The schema has `default`s: stored objects are defaulted on read too (upstream does).
  bool has_defaults() const { return has_defaults_; }
  bool terminating() const { return terminating_; }
  const std::string& crd_name() const { return crd_name_; }
  // scale subresource paths (".spec.replicas", ...); label_selector may be empty.
  const std::string& spec_replicas_path() const { return spec_replicas_path_; }
  const std::string& status_replicas_path() const { return status_replicas_path_; }
  const std::string& label_selector_path() const { return label_selector_path_; }

 private:
  api::crd::CrdVersionSchema schema_;
  api::crd::CrdColumns columns_;
  std::string crd_name_;
  bool namespaced_ = true;
  bool has_status_ = false;
  bool has_scale_ = false;
  bool has_defaults_ = false;
  bool terminating_ = false;
  std::string spec_replicas_path_, status_replicas_path_, label_selector_path_;
};

// The strategy of CustomResourceDefinition objects: ValidateCrd/ValidateCrdUpdate, status
// owned by the server (the CRD controller writes it), create drops a client-sent status.
const api::Strategy& CrdDefinitionStrategy();

// One published view of the API.
struct ApiSnapshot {
  std::shared_ptr<const api::Registry> reg;
  std::string legacy_apis;                         // GET /apis (APIGroupList)
  std::map<std::string, std::string> aggregated;   // "core/v2", "apis/v2beta1", ...
  std::map<std::string, std::string> etags;        // same keys, plus "legacy_apis"
  // Custom-resource strategies by "group/version/plural".
  std::map<std::string, std::unique_ptr<CustomResourceStrategy>, std::less<>> custom;

  const CustomResourceStrategy* CustomStrategy(const api::ResourceDef& res) const;

  // The storage version of a custom resource whose storage version is not served (a CRD with
  // v1 `storage: true, served: false` and v2 served): not in `reg` (not discoverable), but
  // requests at the served versions are converted to and from it. Null when not custom or
  // when the storage version is served (then it is in `reg`).
  const api::ResourceDef* UnservedStorage(const api::ResourceDef& served) const;
  std::map<std::string, std::unique_ptr<api::ResourceDef>, std::less<>> unserved_storage;  // by group/version/plural

  // OpenAPI documents, built on first use.
  const api::OpenApiV3& OpenApiV3() const;
  const api::OpenApiV2& OpenApiV2() const;

  // Builds the snapshot of `reg`, whose custom resources come from `crds` (the established
  // CRDs it was built from).
  static std::shared_ptr<const ApiSnapshot> Build(std::shared_ptr<const api::Registry> reg,
                                                  const std::vector<Json>& crds, const std::string& server_address);

 private:
  mutable std::once_flag v3_once_, v2_once_;
  mutable api::OpenApiV3 v3_;
  mutable api::OpenApiV2 v2_;
};

// A quoted content hash usable as an HTTP ETag.
std::string ETagOf(const std::string& body);

// The thread that runs the CRD reconcile function whenever Kick() is called (coalescing bursts)
// and again after a second while the function reports unfinished work (returns false).
class CrdController {
 public:
  explicit CrdController(std::function<bool()> reconcile);
  ~CrdController();
  CrdController(const CrdController&) = delete;
  CrdController& operator=(const CrdController&) = delete;

  void Kick();
  // Waits until no kick is pending and no reconcile is running (tests).
  void Drain();
  void Stop();

 private:
  void Loop();
  std::function<bool()> reconcile_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool pending_ = false;   // GUARDED_BY(mu_)
  bool running_ = false;   // GUARDED_BY(mu_)
  bool retry_ = false;     // GUARDED_BY(mu_)
  bool stop_ = false;      // GUARDED_BY(mu_)
  std::thread thread_;
};

}  // namespace tug::apiserver::rest
