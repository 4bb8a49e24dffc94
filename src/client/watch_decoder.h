// Internal to client/: decodes a watch response body (newline-delimited JSON watch events,
// arbitrary chunk boundaries) into WatchEvents, parsing each event once, and decides the Status
// the watch ended with.
//
// Thread-safety: none; a stream's callbacks are serialized by the transport.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "client/client.h"

namespace tug::client {

// A Status from a metav1.Status document (reason/code/message/details); http_code is used when
// the document carries neither a known reason nor a code.
Status StatusFromJson(const Json& status, int http_code);

class WatchDecoder {
 public:
  explicit WatchDecoder(std::function<void(WatchEvent)> on_event) : on_event_(std::move(on_event)) {}
  void Head(int code);
  void Data(std::string_view data);
  // The Status the watch ended with: the error answer for a non-2xx response, the first ERROR
  // event's Status (Gone for 410 Expired), else `transport_status`.
  Status End(Status transport_status);

 private:
  void Line(std::string_view line);

  std::function<void(WatchEvent)> on_event_;
  int code_ = 0;
  bool ok_ = true;
  std::string buf_;         // an unfinished line
  std::string error_body_;  // body of a non-2xx answer
  Status error_;
};

}  // namespace tug::client
