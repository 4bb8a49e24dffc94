#include "controllers/serviceaccount/service_account.h"

#include <gtest/gtest.h>

#include "controllers/testing/harness.h"

namespace tug::controllers::serviceaccount {
namespace {

using testing::Harness;

TEST(ServiceAccountControllerTest, DefaultServiceAccountInEveryNamespace) {
  Harness h({"serviceaccount"});
  // Namespaces that exist at start-up get one.
  EXPECT_TRUE(Harness::WaitFor([&] { return !h.Get(client::kServiceAccounts, "default", "default").is_null(); }));
  EXPECT_TRUE(Harness::WaitFor([&] { return !h.Get(client::kServiceAccounts, "kube-system", "default").is_null(); }));
  // New namespaces too.
  ASSERT_TRUE(h.c().Create(client::kNamespaces, "", Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", "team"}}}}).ok());
  ASSERT_TRUE(Harness::WaitFor([&] { return !h.Get(client::kServiceAccounts, "team", "default").is_null(); }));
  // Deleted: re-created (a new object, new uid).
  std::string uid = GetStringPath(h.Get(client::kServiceAccounts, "team", "default"), {"metadata", "uid"});
  ASSERT_TRUE(h.c().Delete(client::kServiceAccounts, "team", "default").ok());
  EXPECT_TRUE(Harness::WaitFor([&] {
    Json sa = h.Get(client::kServiceAccounts, "team", "default");
    return !sa.is_null() && GetStringPath(sa, {"metadata", "uid"}) != uid;
  }));
  // Other service accounts are not touched.
  EXPECT_EQ(h.List(client::kServiceAccounts, "team").size(), 1u);
}

}  // namespace
}  // namespace tug::controllers::serviceaccount
