#include "apiserver/http.h"

#include <strings.h>

#include "base/json.h"

namespace tug::apiserver {

std::string Request::Query(std::string_view name, std::string_view def) const {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return std::string(def);
}

bool Request::HasQuery(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return true;
  return false;
}

std::vector<std::string> Request::QueryAll(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [k, v] : query)
    if (k == name) out.push_back(v);
  return out;
}

std::string Request::Header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), k.size()) == 0) return v;
  return "";
}

bool IsUpgradeRequest(const Request& req) {
  if (req.Header("Upgrade").empty()) return false;
  std::string conn = req.Header("Connection");
  size_t pos = 0;
  while (pos <= conn.size()) {
    size_t comma = conn.find(',', pos);
    if (comma == std::string::npos) comma = conn.size();
    std::string tok = conn.substr(pos, comma - pos);
    size_t b = tok.find_first_not_of(" \t"), e = tok.find_last_not_of(" \t");
    if (b != std::string::npos && e - b + 1 == 7 && strncasecmp(tok.data() + b, "upgrade", 7) == 0) return true;
    pos = comma + 1;
  }
  return false;
}

std::string StatusJson(const Status& st) {
  Json j = {{"kind", "Status"},
            {"apiVersion", "v1"},
            {"metadata", Json::object()},
            {"status", "Failure"},
            {"message", st.message()},
            {"reason", std::string(ReasonOf(st.code()))},
            {"code", HttpCodeOf(st.code())}};
  if (const StatusDetails* d = st.details()) {
    Json det = Json::object();
    if (!d->name.empty()) det["name"] = d->name;
    if (!d->group.empty()) det["group"] = d->group;
    if (!d->kind.empty()) det["kind"] = d->kind;
    if (!d->uid.empty()) det["uid"] = d->uid;
    if (!d->causes.empty()) {
      Json causes = Json::array();
      for (const auto& c : d->causes) {
        Json cj = Json::object();
        if (!c.reason.empty()) cj["reason"] = c.reason;
        if (!c.message.empty()) cj["message"] = c.message;
        if (!c.field.empty()) cj["field"] = c.field;
        causes.push_back(std::move(cj));
      }
      det["causes"] = std::move(causes);
    }
    if (d->retry_after_seconds > 0) det["retryAfterSeconds"] = d->retry_after_seconds;
    j["details"] = std::move(det);
  }
  return DumpJson(j);
}

std::string SuccessStatusJson(const std::string& name, const std::string& group, const std::string& kind,
                              const std::string& uid) {
  Json det = Json::object();
  if (!name.empty()) det["name"] = name;
  if (!group.empty()) det["group"] = group;
  if (!kind.empty()) det["kind"] = kind;
  if (!uid.empty()) det["uid"] = uid;
  Json j = {{"kind", "Status"}, {"apiVersion", "v1"}, {"metadata", Json::object()}, {"status", "Success"},
            {"details", det}};
  return DumpJson(j);
}

void SendStatus(ResponseWriter& w, const Status& st) {
  w.Send(HttpCodeOf(st.code()), "application/json", StatusJson(st));
}

}  // namespace tug::apiserver
