// Field error rendering and the Invalid status, checked against upstream's exact strings.
#include "api/field_error.h"

#include <gtest/gtest.h>

#include "api/validation/helpers.h"

namespace tug::api {
namespace {

struct Case {
  const char* name;
  FieldError err;
  const char* want;
};

TEST(FieldErrorTest, ToStringMatchesUpstream) {
  const Case cases[] = {
      {"invalid_int", FieldError::Invalid("spec.replicas", -1, "must be greater than or equal to 0"),
       "spec.replicas: Invalid value: -1: must be greater than or equal to 0"},
      {"invalid_string", FieldError::Invalid("metadata.name", "Web", "bad"), "metadata.name: Invalid value: \"Web\": bad"},
      {"invalid_map", FieldError::Invalid("spec.template.metadata.labels", Json{{"app", "x"}}, "`selector` does not match template `labels`"),
       "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"x\"}: `selector` does not match template `labels`"},
      {"invalid_list", FieldError::Invalid("f", Json::array({"a", "b"}), "d"), "f: Invalid value: []string{\"a\", \"b\"}: d"},
      {"invalid_bool", FieldError::Invalid("f", true, "d"), "f: Invalid value: true: d"},
      {"invalid_null", FieldError::Invalid("f", nullptr, "d"), "f: Invalid value: \"null\": d"},
      {"invalid_float", FieldError::Invalid("f", 1.5, "d"), "f: Invalid value: 1.5: d"},
      {"required", FieldError::Required("spec.containers"), "spec.containers: Required value"},
      {"required_detail", FieldError::Required("metadata.name", "name or generateName is required"),
       "metadata.name: Required value: name or generateName is required"},
      {"not_supported", FieldError::NotSupported("spec.restartPolicy", "Sometimes", {"Always", "OnFailure", "Never"}),
       "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""},
      {"forbidden", FieldError::Forbidden("spec", "nope"), "spec: Forbidden: nope"},
      {"duplicate", FieldError::Duplicate("spec.containers[1].name", "a"), "spec.containers[1].name: Duplicate value: \"a\""},
      {"too_long", FieldError::TooLong("metadata.annotations", "xxxx", 262144),
       "metadata.annotations: Too long: may not be more than 262144 bytes"},
      {"not_found", FieldError::NotFound("spec.containers[0].volumeMounts[0].name", "v"),
       "spec.containers[0].volumeMounts[0].name: Not found: \"v\""},
      {"quote_escapes", FieldError::Invalid("f", "a\"b\n", "d"), "f: Invalid value: \"a\\\"b\\n\": d"},
  };
  for (const Case& c : cases) EXPECT_EQ(c.err.ToString(), c.want) << c.name;
}

TEST(FieldErrorTest, ReasonsAndMessages) {
  EXPECT_EQ(FieldError::Invalid("a", 1, "x").Reason(), "FieldValueInvalid");
  EXPECT_EQ(FieldError::Required("a").Reason(), "FieldValueRequired");
  EXPECT_EQ(FieldError::NotSupported("a", "b", {}).Reason(), "FieldValueNotSupported");
  EXPECT_EQ(FieldError::Forbidden("a", "x").Reason(), "FieldValueForbidden");
  EXPECT_EQ(FieldError::Duplicate("a", "b").Reason(), "FieldValueDuplicate");
  EXPECT_EQ(FieldError::TooLong("a", "b", 1).Reason(), "FieldValueTooLong");
  EXPECT_EQ(FieldError::NotFound("a", "b").Reason(), "FieldValueNotFound");
  EXPECT_EQ(FieldError::Invalid("spec.replicas", -1, "must be greater than or equal to 0").Message(),
            "Invalid value: -1: must be greater than or equal to 0");
}

TEST(FieldErrorTest, InvalidStatusOneError) {
  Status st = InvalidStatus("Deployment.apps", "apps", "Deployment", "web",
                            {FieldError::Invalid("spec.replicas", -1, "must be greater than or equal to 0")});
  EXPECT_EQ(st.code(), StatusCode::kInvalid);
  EXPECT_EQ(st.message(),
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0");
  ASSERT_NE(st.details(), nullptr);
  EXPECT_EQ(st.details()->name, "web");
  EXPECT_EQ(st.details()->group, "apps");
  EXPECT_EQ(st.details()->kind, "Deployment");
  ASSERT_EQ(st.details()->causes.size(), 1u);
  EXPECT_EQ(st.details()->causes[0].reason, "FieldValueInvalid");
  EXPECT_EQ(st.details()->causes[0].field, "spec.replicas");
  EXPECT_EQ(st.details()->causes[0].message, "Invalid value: -1: must be greater than or equal to 0");
}

TEST(FieldErrorTest, InvalidStatusSeveralErrorsDeduplicated) {
  Status st = InvalidStatus("Pod", "", "Pod", "p",
                            {FieldError::Required("spec.containers[0].image"), FieldError::Required("spec.containers"),
                             FieldError::Required("spec.containers")});
  EXPECT_EQ(st.message(),
            "Pod \"p\" is invalid: [spec.containers[0].image: Required value, spec.containers: Required value]");
  // Causes keep every entry, as upstream does.
  EXPECT_EQ(st.details()->causes.size(), 3u);
}

TEST(FieldErrorTest, InvalidStatusNoErrors) {
  Status st = InvalidStatus("Pod", "", "Pod", "p", {});
  EXPECT_EQ(st.message(), "Pod \"p\" is invalid");
}

}  // namespace
}  // namespace tug::api
