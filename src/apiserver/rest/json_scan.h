// Byte-level navigation of compact JSON documents, for the hot paths that must not parse whole
// objects: finding the `metadata` member of a stored object, its name/namespace/labels, and
// where `resourceVersion` goes, so a cached object is built by splicing bytes.
//
// The scanner validates structure only as far as it walks (strings, nesting, literals); callers
// fall back to a full parse when it reports failure.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>

namespace tug::apiserver::rest {

struct Span {
  size_t begin = 0;
  size_t end = 0;  // one past the value
};

// Skips the JSON value starting at text[pos] (leading whitespace allowed); returns the position
// one past it, or nullopt when the text is not a well-formed value there.
std::optional<size_t> SkipJsonValue(std::string_view text, size_t pos);

// Calls fn(raw_key, value_span) for every member of the object that starts at text[obj.begin]
// ('{'), in document order; raw_key is the key without quotes and still escaped. fn returns
// false to stop early. Returns false when the object is malformed.
bool ForEachMember(std::string_view text, Span obj,
                   const std::function<bool(std::string_view raw_key, Span value)>& fn);

// Calls fn(value_span) for every element of the array that starts at text[arr.begin] ('['), in
// order; fn returns false to stop early. Returns false when the array is malformed.
bool ForEachElement(std::string_view text, Span arr, const std::function<bool(Span value)>& fn);

}  // namespace tug::apiserver::rest
