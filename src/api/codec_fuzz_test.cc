// Bounded, deterministic fuzzing of the decoders and patch functions (the libFuzzer targets in
// fuzz/ run the same entry points without bounds under clang). Each entry point gets a seed
// corpus plus pseudo-random mutations of it (fixed seed, so failures reproduce); the test fails
// if anything throws, and a crash or sanitizer report fails it too.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>
#include <vector>

#include "api/fuzz/fuzz_entry.h"

namespace tug::api {
namespace {

constexpr int kMutationsPerTarget = 3500;  // ~20k in total over the six targets

std::string Len(int tag, const std::string& body) {
  std::string s;
  s += static_cast<char>((tag << 3) | 2);
  size_t n = body.size();
  while (n >= 0x80) {
    s += static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  s += static_cast<char>(n);
  return s + body;
}
std::string Envelope(const std::string& av, const std::string& kind, const std::string& raw) {
  return std::string("k8s\0", 4) + Len(1, Len(1, av) + Len(2, kind)) + Len(2, raw);
}

const char* kDeployJson =
    R"({"kind":"Deployment","apiVersion":"apps/v1","metadata":{"name":"web","labels":{"app":"web"},"finalizers":["a"]},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"nginx","image":"nginx:1.25","ports":[{"containerPort":80}],"resources":{}}],"volumes":[{"name":"v","emptyDir":{}}]}},"strategy":{}},"status":{}})";

std::vector<std::string> JsonSeeds() {
  return {kDeployJson, "{}", "[]", "null", R"({"a":{"a":1,"a":2},"b":[1,2,{"c":"\u00e9"}]})", "1e308", "\"\\u00e9\\ud83d\\ude00\""};
}

std::vector<std::string> YamlSeeds() {
  return {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n  - name: c\n    image: busybox\n",
          "a: &x [1, 2]\nb: *x\nc:\n  <<: {d: 1}\n", "- y\n- 0x1F\n- 017\n- 1_000\n- .5\n- ~\n", "text: |\n  a\n  b\n",
          "k: !!int \"3\"\n", "{a: [b, {c: d}]}\n"};
}

std::vector<std::string> ProtoSeeds() {
  std::string meta = Len(1, "web") + Len(11, Len(1, "app") + Len(2, "web"));
  std::string container = Len(1, "nginx") + Len(2, "nginx:1.25") + Len(8, "");
  std::string tmpl = Len(1, meta) + Len(2, Len(2, container));
  std::string spec = std::string("\x08\x02", 2) + Len(3, tmpl);
  std::string svc_port = std::string("\x18\x50", 2) + Len(4, std::string("\x08\x01", 2) + Len(3, "http"));
  return {Envelope("apps/v1", "Deployment", Len(1, meta) + Len(2, spec) + Len(3, "")),
          Envelope("v1", "Service", Len(1, meta) + Len(2, Len(1, svc_port))),
          Envelope("v1", "Secret", Len(1, meta) + Len(2, Len(1, "k") + Len(2, std::string("\0\xff", 2)))),
          Envelope("apps/v1", "ControllerRevision", Len(1, meta) + Len(2, Len(1, R"({"x":[1]})")))};
}

std::string Pair(const std::string& a, const std::string& b) { return a + std::string(1, '\0') + b; }

std::vector<std::string> JsonPatchSeeds() {
  return {Pair(kDeployJson, R"([{"op":"replace","path":"/spec/replicas","value":3},{"op":"add","path":"/metadata/labels/x","value":"y"}])"),
          Pair(kDeployJson, R"([{"op":"remove","path":"/spec/template/spec/containers/0"},{"op":"copy","from":"/spec","path":"/x"}])"),
          Pair(kDeployJson, R"([{"op":"move","from":"/metadata/labels","path":"/l"},{"op":"test","path":"/l/app","value":"web"}])"),
          Pair(R"({"a":[1,2]})", R"([{"op":"add","path":"/a/-","value":{"b":"~1"}}])")};
}

std::vector<std::string> MergePatchSeeds() {
  return {Pair(kDeployJson, R"({"metadata":{"labels":{"app":null,"x":"y"}},"spec":{"replicas":5}})"),
          Pair(R"({"a":[1]})", R"({"a":{"b":null}})"), Pair("[1]", "null")};
}

std::vector<std::string> SmpSeeds() {
  // Even and odd lengths select typed vs untyped patching (see fuzz_entry.h); pad to get both.
  std::vector<std::string> out;
  for (const char* p : {
           R"({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"name":"nginx","image":"x"}]}}}})",
           R"({"spec":{"paused":null,"template":{"metadata":{"annotations":{"r":"1"}}}}})",
           R"({"spec":{"template":{"spec":{"containers":[{"$patch":"delete","name":"nginx"},{"$patch":"replace"}]}}}})",
           R"({"spec":{"template":{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/"},"$retainKeys":["name","hostPath"]}]}}}})",
           R"({"metadata":{"$deleteFromPrimitiveList/finalizers":["a"],"finalizers":["b"]},"spec":{"$patch":"replace"}})",
       }) {
    out.push_back(Pair(kDeployJson, p));
    out.push_back(Pair(kDeployJson, std::string(p) + " "));
  }
  return out;
}

std::string Mutate(const std::vector<std::string>& corpus, std::mt19937& rng) {
  auto pick = [&](size_t n) { return n == 0 ? size_t{0} : static_cast<size_t>(rng() % n); };
  std::string s = corpus[pick(corpus.size())];
  int steps = 1 + static_cast<int>(pick(4));
  static const char kInteresting[] = "{}[]\":,0-1e9\\$/~\x80\xff\0\n- &*!|>#";
  for (int i = 0; i < steps; ++i) {
    switch (pick(7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[pick(s.size())] ^= static_cast<char>(1 << pick(8));
        break;
      case 1:  // insert an interesting byte
        s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(s.size() + 1)), kInteresting[pick(sizeof kInteresting - 1)]);
        break;
      case 2: {  // delete a range
        if (s.empty()) break;
        size_t at = pick(s.size());
        s.erase(at, 1 + pick(16));
        break;
      }
      case 3: {  // duplicate a range
        if (s.empty()) break;
        size_t at = pick(s.size());
        std::string piece = s.substr(at, 1 + pick(32));
        s.insert(pick(s.size() + 1), piece);
        break;
      }
      case 4:  // truncate
        s.resize(pick(s.size() + 1));
        break;
      case 5: {  // splice with another corpus entry
        const std::string& o = corpus[pick(corpus.size())];
        size_t cut = pick(o.size() + 1);
        s = s.substr(0, pick(s.size() + 1)) + o.substr(cut);
        break;
      }
      case 6:  // overwrite a byte with a random one
        if (!s.empty()) s[pick(s.size())] = static_cast<char>(rng());
        break;
    }
  }
  return s;
}

struct Target {
  const char* name;
  void (*fn)(const uint8_t*, size_t);
  std::vector<std::string> corpus;
};

void RunTarget(const Target& t) {
  std::mt19937 rng(12345);
  auto call = [&](const std::string& in) {
    try {
      t.fn(reinterpret_cast<const uint8_t*>(in.data()), in.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << t.name << " threw " << e.what() << " on input " << ::testing::PrintToString(in);
    } catch (...) {
      ADD_FAILURE() << t.name << " threw on input " << ::testing::PrintToString(in);
    }
  };
  for (const auto& s : t.corpus) call(s);
  for (int i = 0; i < kMutationsPerTarget && !::testing::Test::HasFailure(); ++i) call(Mutate(t.corpus, rng));
}

TEST(CodecFuzzTest, DecodeJson) { RunTarget({"DecodeJson", fuzz::FuzzDecodeJson, JsonSeeds()}); }
TEST(CodecFuzzTest, YamlToJson) { RunTarget({"YamlToJson", fuzz::FuzzYamlToJson, YamlSeeds()}); }
TEST(CodecFuzzTest, DecodeProtobuf) {
  ASSERT_NE(fuzz::FuzzRegistry(), nullptr);
  RunTarget({"DecodeProtobuf", fuzz::FuzzDecodeProtobuf, ProtoSeeds()});
}
TEST(CodecFuzzTest, JsonPatch) { RunTarget({"ApplyJsonPatch", fuzz::FuzzJsonPatch, JsonPatchSeeds()}); }
TEST(CodecFuzzTest, MergePatch) { RunTarget({"ApplyMergePatch", fuzz::FuzzMergePatch, MergePatchSeeds()}); }
TEST(CodecFuzzTest, StrategicMergePatch) { RunTarget({"ApplyStrategicMergePatch", fuzz::FuzzStrategicMergePatch, SmpSeeds()}); }

// The seeds themselves must be valid inputs, or the mutations explore nothing useful.
TEST(CodecFuzzTest, SeedsAreValid) {
  for (const auto& s : JsonSeeds()) EXPECT_TRUE(DecodeJson(s).ok()) << s;
  for (const auto& s : YamlSeeds()) EXPECT_TRUE(YamlToJson(s).ok()) << s;
  ASSERT_NE(fuzz::FuzzRegistry(), nullptr);
  for (const auto& s : ProtoSeeds()) {
    auto r = DecodeProtobuf(*fuzz::FuzzRegistry(), s);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
  }
}

}  // namespace
}  // namespace tug::api
