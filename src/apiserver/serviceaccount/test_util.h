// Test helpers for apiserver/serviceaccount tests: a fresh P-256 key, an in-memory object map
// behind an ObjectGetter, and a settable clock.
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <mutex>
#include <string>

#include "apiserver/serviceaccount/token.h"
#include "base/clock.h"

namespace tug::apiserver::serviceaccount::testing {

inline std::string NewKeyPem() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string pem(data, static_cast<size_t>(n));
  BIO_free(b);
  EVP_PKEY_free(k);
  return pem;
}

class Objects {
 public:
  void Put(const std::string& resource, const std::string& ns, const std::string& name, const std::string& uid,
           Json extra = Json::object()) {
    Json o = extra;
    o["metadata"]["name"] = name;
    if (!ns.empty()) o["metadata"]["namespace"] = ns;
    o["metadata"]["uid"] = uid;
    std::lock_guard<std::mutex> l(mu_);
    m_[resource + "/" + ns + "/" + name] = o;
  }
  void Set(const std::string& resource, const std::string& ns, const std::string& name, Json o) {
    std::lock_guard<std::mutex> l(mu_);
    m_[resource + "/" + ns + "/" + name] = std::move(o);
  }
  void Erase(const std::string& resource, const std::string& ns, const std::string& name) {
    std::lock_guard<std::mutex> l(mu_);
    m_.erase(resource + "/" + ns + "/" + name);
  }
  ObjectGetter Getter() {
    return [this](std::string_view r, const std::string& ns, const std::string& name) -> std::optional<Json> {
      std::lock_guard<std::mutex> l(mu_);
      auto it = m_.find(std::string(r) + "/" + ns + "/" + name);
      if (it == m_.end()) return std::nullopt;
      return it->second;
    };
  }

 private:
  std::mutex mu_;
  std::map<std::string, Json> m_;
};

class SetClock : public Clock {
 public:
  SystemTime Now() const override { return now_; }
  std::chrono::steady_clock::time_point SteadyNow() const override { return std::chrono::steady_clock::now(); }
  void Set(SystemTime t) { now_ = t; }
  void Advance(std::chrono::seconds d) { now_ += d; }

 private:
  SystemTime now_ = std::chrono::system_clock::now();
};

}  // namespace tug::apiserver::serviceaccount::testing
