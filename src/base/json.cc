#include "base/json.h"

namespace tug {

Result<Json> ParseJson(std::string_view text) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    return BadRequestError(std::string("invalid JSON: ") + e.what());
  } catch (const std::exception& e) {
    return BadRequestError(std::string("invalid JSON: ") + e.what());
  }
}

std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* Find(const Json& j, std::string_view key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end()) return nullptr;
  return &*it;
}

const Json* FindPath(const Json& j, std::initializer_list<std::string_view> path) {
  const Json* cur = &j;
  for (auto k : path) {
    cur = Find(*cur, k);
    if (!cur) return nullptr;
  }
  return cur;
}

std::string GetString(const Json& j, std::string_view key, std::string_view def) {
  const Json* v = Find(j, key);
  if (!v || !v->is_string()) return std::string(def);
  return v->get<std::string>();
}

std::string GetStringPath(const Json& j, std::initializer_list<std::string_view> path, std::string_view def) {
  const Json* v = FindPath(j, path);
  if (!v || !v->is_string()) return std::string(def);
  return v->get<std::string>();
}

}  // namespace tug
