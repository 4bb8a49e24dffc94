// Informers and listers: a local, always-current cache of one resource kept by LIST + WATCH,
// with event handlers, as client-go's shared informers (LIST in pages of 500, each page
// transformed before the next is read; re-list on 410 Gone or connection loss, periodic resync
// to handlers).
//
//   client::InformerFactory f(client);
//   client::Informer& pods = f.For(client::kPods);
//   pods.AddHandler({.on_add = ..., .on_update = ..., .on_delete = ...});
//   f.Start(); f.WaitForSync();
//   for (const client::ObjectPtr& p : pods.List("default", selector)) ...
//
// Objects in the cache are immutable snapshots shared with handlers and listers; nobody mutates
// them (copy, modify, Update through the Client). A new version replaces the pointer.
// Ownership: the factory owns its informers; informers borrow the Client (it must outlive them).
// Thread-safety: List/Get/AddIndexer are safe from any thread; handlers run on the informer's
// single dispatch thread, in event order, and must not block for long (enqueue keys instead).
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/json.h"
#include "client/client.h"

namespace tug::client {

using ObjectPtr = std::shared_ptr<const Json>;

// "ns/name", or "name" for cluster-scoped objects (client-go's MetaNamespaceKeyFunc).
std::string KeyOf(const Json& obj);
// Splits a key back into namespace and name.
std::pair<std::string, std::string> SplitKey(std::string_view key);

struct EventHandler {
  std::function<void(const ObjectPtr& obj)> on_add;
  std::function<void(const ObjectPtr& old_obj, const ObjectPtr& new_obj)> on_update;
  // For a delete missed during a re-list, obj is the last state the cache knew.
  std::function<void(const ObjectPtr& obj)> on_delete;
};

// A parsed label selector ("a=b,c in (d,e),!f"); empty matches everything.
class LabelSelector {
 public:
  static Result<LabelSelector> Parse(std::string_view text);
  // From a metav1.LabelSelector JSON ({matchLabels, matchExpressions}); null/absent = everything
  // when `null_matches_all`, nothing otherwise (upstream differs per use).
  static Result<LabelSelector> FromJson(const Json* selector, bool null_matches_all = false);
  bool Matches(const Json* labels) const;
  bool Empty() const;
  bool MatchesNothing() const { return nothing_; }

 private:
  struct Req {
    std::string key;
    enum Op { kEq, kNotEq, kIn, kNotIn, kExists, kNotExists, kGt, kLt } op;
    std::vector<std::string> values;
  };
  std::vector<Req> reqs_;
  bool nothing_ = false;
};

class Informer {
 public:
  virtual ~Informer() = default;
  // Handlers added after Start get a synthetic on_add for every cached object first.
  virtual void AddHandler(EventHandler h) = 0;
  // Secondary index: name -> function giving the index values of an object
  // (e.g. "nodeName" -> {spec.nodeName}).
  virtual void AddIndexer(std::string name, std::function<std::vector<std::string>(const Json&)> fn) = 0;
  virtual bool HasSynced() const = 0;

  virtual ObjectPtr Get(std::string_view key) const = 0;  // null when absent
  // ns "" = all namespaces; selector null = everything.
  virtual std::vector<ObjectPtr> List(std::string_view ns = "", const LabelSelector* selector = nullptr) const = 0;
  virtual std::vector<ObjectPtr> ByIndex(std::string_view index, std::string_view value) const = 0;
  // The values an index has objects under (empty for an unknown index), so a loop can find the
  // few objects it needs without reading every object.
  virtual std::vector<std::string> IndexValues(std::string_view index) const = 0;
  virtual const Resource& resource() const = 0;
};

struct InformerOptions {
  std::string ns;                        // "" = all namespaces
  std::string label_selector;
  std::string field_selector;
  std::chrono::seconds resync{0};        // 0 = no periodic resync (on_update(old==new) to handlers)
  // Applied to every object before it is cached (client-go's SetTransform), e.g.
  // StripManagedFields. Empty: the factory's transform, if any.
  std::function<void(Json&)> transform;
};

// Removes metadata.managedFields: controllers never read them, and they are a large part of
// every cached object (upstream's controller manager and scheduler strip them too). Updates
// sent without managedFields keep the stored ones.
void StripManagedFields(Json& obj);

// StripManagedFields, and for core/v1 Pods also the parts no control loop of `tug server`
// (controller manager, scheduler) reads: projected volumes (the kube-api-access token volume),
// the containers' volumeMounts, terminationMessagePath/Policy and imagePullPolicy,
// spec.dnsPolicy, enableServiceLinks, serviceAccount (the deprecated alias of
// serviceAccountName), securityContext and terminationGracePeriodSeconds; status.hostIPs,
// startTime and qosClass; and of each container status all but name, ready, restartCount and
// state.terminated. Safe only for caches whose pods are never written back: the control loops
// change pods only by patches (framework::PatchPodStatus for status). Not for the node agent,
// which runs what the spec says.
void StripForControlLoops(Json& obj);

class InformerFactory;

// The cache of the control loops (controller manager, scheduler) in `tug server` and when they
// run alone: StripForControlLoops, and for pods (the resource counted in tens of thousands) a
// compact cache (SetCompactCache) without a hot ring: a pod stays parsed while it changes or is
// read and for 10 s after, then only its text is kept; the scheduler holds the pods on nodes
// without their documents, so at rest pods are text only. Other resources stay parsed: the
// loops scan some of them per event (the scheduler lists a namespace's ReplicaSets and Services
// for every pod it places), and there are few of them. (A ring of the 1,024 most recently parsed
// trees per informer kept random trees alive across the allocator's pages: at 30,000 pods they
// held ~170 MB of mostly empty pages at rest.)
void UseControlLoopCache(InformerFactory& factory);

class InformerFactory {
 public:
  explicit InformerFactory(const Client& client);
  ~InformerFactory();  // stops every informer
  InformerFactory(const InformerFactory&) = delete;
  InformerFactory& operator=(const InformerFactory&) = delete;

  // A transform for every informer created after this call that sets none of its own.
  void SetTransform(std::function<void(Json&)> transform);
  // Informers created after this call keep each cached object as compact JSON text (plus its
  // labels, so selectors match without a parse) instead of a parsed tree, which costs 6-7x the
  // text; Get/List/ByIndex parse on demand. An object's tree stays parsed for `pin_changed`
  // after each change (the objects control loops are working on), and the `hot_objects` most
  // recently parsed ones are kept per informer (0: none); any tree still held by somebody is
  // shared. Handlers get the parsed objects as before. For processes that cache many objects
  // (`tug server`'s control loops). Without this call: parsed trees. A scope ignores it (the
  // shared factory's setting applies).
  // `only`: the resources cached so (empty: all).
  void SetCompactCache(size_t hot_objects, std::chrono::milliseconds pin_changed = std::chrono::seconds(10),
                       std::vector<Resource> only = {});
  // The shared informer for a resource (created on first call; same options only).
  Informer& For(const Resource& r, InformerOptions opts = {});
  // Starts every informer created so far (and later ones on creation).
  void Start();
  // Blocks until every started informer has synced, or the timeout passes (false).
  bool WaitForSync(std::chrono::milliseconds timeout = std::chrono::minutes(5));
  void Stop();

  // A scope over this factory's informers, for one component of a process that shares one
  // cache (DESIGN.md §4: the controller manager and the scheduler of `tug server`). The scope's
  // For() returns this factory's informer for the same resource and options (so the cache and
  // its objects exist once); handlers added through it belong to the scope. The scope's Start()
  // starts this factory, its WaitForSync() waits for the informers the scope used, and its Stop()
  // (or destructor) removes the scope's handlers — when it returns none of them runs or will run
  // again — but leaves the informers running for the other scopes. SetTransform on a scope does
  // nothing: transforms are the shared factory's (set one that serves every scope).
  // The scope borrows this factory, which must outlive it. Stop() of a scope must not be called
  // from an informer handler.
  std::unique_ptr<InformerFactory> NewScope();

 private:
  struct Impl;
  explicit InformerFactory(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tug::client
