#include "base/packed.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace tug {
namespace {

// A pod-like document: the same structure every time, a few values differing.
std::string Pod(int i) {
  std::string n = std::to_string(i);
  return R"({"apiVersion":"v1","kind":"Pod","metadata":{"creationTimestamp":"2026-11-26T20:0)" + std::to_string(i % 10) +
         R"(:00Z","generateName":"web-7d4b9c-","labels":{"app":"web","pod-template-hash":"7d4b9c"},"name":"web-7d4b9c-)" +
         n + R"(","namespace":"default","ownerReferences":[{"apiVersion":"apps/v1","blockOwnerDeletion":true,)"
             R"("controller":true,"kind":"ReplicaSet","name":"web-7d4b9c","uid":"0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"}],)"
             R"("uid":"uid-)" + n + R"("},"spec":{"containers":[{"image":"busybox:1.36","imagePullPolicy":"IfNotPresent",)"
             R"("name":"app","resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File",)"
             R"("volumeMounts":[{"mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","name":"kube-api-access-)" +
         n + R"(","readOnly":true}]}],"dnsPolicy":"ClusterFirst","enableServiceLinks":true,"nodeName":"node-)" +
         std::to_string(i % 7) + R"(","restartPolicy":"Always","schedulerName":"default-scheduler"}})";
}

TEST(PackedTest, RoundTripsEveryLength) {
  for (size_t len : {0, 1, 95, 96, 97, 500, 5000, 100000}) {
    std::string v;
    for (size_t i = 0; i < len; ++i) v.push_back(static_cast<char>('a' + (i * 7 + i / 13) % 26));
    Packed p = Packed::Pack(v);
    EXPECT_EQ(p.size(), len);
    EXPECT_EQ(p.Unpack(), v) << len;
    std::string buf;
    EXPECT_EQ(p.View(&buf), v);
    std::string out = "x";
    p.AppendTo(&out);
    EXPECT_EQ(out, "x" + v);
  }
  EXPECT_FALSE(Packed::Pack("short").compressed());
  EXPECT_TRUE(Packed::Pack(std::string(1000, 'a')).compressed());
  EXPECT_LT(Packed::Pack(std::string(1000, 'a')).stored_size(), 100u);
}

TEST(PackedTest, IncompressibleBytesAreKeptAsTheyAre) {
  std::string v;
  uint32_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 1103515245 + 12345;
    v.push_back(static_cast<char>(x >> 16));
  }
  Packed p = Packed::Pack(v);
  EXPECT_FALSE(p.compressed());
  EXPECT_EQ(p.stored_size(), v.size());
  EXPECT_EQ(p.Unpack(), v);
}

TEST(PackedTest, ADictionaryOfSimilarValuesShrinksThem) {
  std::string dict_content;
  for (int i = 0; i < 4; ++i) dict_content += Pod(i);
  auto dict = std::make_shared<const PackDictionary>(dict_content);
  std::string v = Pod(1234);
  Packed plain = Packed::Pack(v), with = Packed::Pack(v, dict);
  EXPECT_EQ(with.Unpack(), v);
  EXPECT_LT(with.stored_size() * 3, plain.stored_size()) << with.stored_size() << " vs " << plain.stored_size();
  // The value needs its own dictionary, which it keeps alive.
  dict.reset();
  EXPECT_EQ(with.Unpack(), v);
}

TEST(PackerTest, LearnsItsDictionaryFromTheFirstSamples) {
  Packer packer;
  std::vector<std::pair<std::string, Packed>> packed;
  for (int i = 0; i < 40; ++i) {
    std::string v = Pod(i);
    ASSERT_GE(v.size(), Packer::kMinDictSample);
    packed.emplace_back(v, packer.Pack(v));
    EXPECT_EQ(packer.dictionary() != nullptr, static_cast<size_t>(i + 1) >= Packer::kDictSamples) << i;
  }
  // Small values are no samples.
  Packer small;
  for (int i = 0; i < 20; ++i) small.Pack(std::string(200, 'a' + i % 26));
  EXPECT_EQ(small.dictionary(), nullptr);
  // Before and after the dictionary, every value reads back; the later ones are smaller.
  for (const auto& [v, p] : packed) EXPECT_EQ(p.Unpack(), v);
  EXPECT_LT(packed.back().second.stored_size() * 2, packed.front().second.stored_size());
}

TEST(PackerTest, PacksAndUnpacksFromManyThreads) {
  Packer packer;
  std::vector<std::thread> ts;
  std::atomic<int> bad{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string v = Pod(t * 1000 + i);
        if (packer.Pack(v).Unpack() != v) ++bad;
      }
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace tug
