#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "sluice/pipeline/pipeline_spec.hpp"
#include "sluice/config/spec.hpp"

using namespace sluice::config;
using sluice::pipeline::PipelineDocsMarkdown;
using sluice::pipeline::PipelineSpec;

TEST_CASE("every declared option has a description, and every example validates") {
  size_t checked = 0;
  ForEachOption(PipelineSpec(), [&](const std::string& path, const Option& option) {
    INFO(path);
    CHECK_FALSE(option.description.empty());
    bool scalar_like = option.type != OptionType::kSection &&
                       option.type != OptionType::kSectionList;
    if (scalar_like) CHECK_FALSE(option.example.empty());
    if (option.example.empty()) return;
    Validator v("example");
    YAML::Node example = YAML::Load(option.example);
    v.ValidateValue(example, option, path);
    CHECK(FormatIssues(v.Issues()) == "");
    ++checked;
  });
  CHECK(checked > 100);
}

TEST_CASE("every declared default validates against its own option") {
  ForEachOption(PipelineSpec(), [&](const std::string& path, const Option& option) {
    if (!option.default_yaml) return;
    INFO(path);
    CHECK_FALSE(option.required);
    Validator v("default");
    std::string text = *option.default_yaml;
    if (auto at = text.find("{pipeline}"); at != std::string::npos) text.replace(at, 10, "p");
    v.ValidateValue(YAML::Load(text), option, path);
    CHECK(FormatIssues(v.Issues()) == "");
  });
}

TEST_CASE("the docs table lists every option with its default and example") {
  std::string md = PipelineDocsMarkdown();
  CHECK(md.find("# Pipeline file reference") == 0);
  CHECK(md.find("### `cleaner.rules[] type: regex`") != std::string::npos);
  CHECK(md.find("| `regex` | string | required | ECMAScript regular expression; fix sets a non-matching value to null | `'[A-G][1-5]'` |") !=
        std::string::npos);
  CHECK(md.find("| `raw` | string | `<pipeline>.raw` |") != std::string::npos);
  CHECK(md.find("| `action` | enum: reject \\| flag \\| fix | `reject` |") != std::string::npos);
  size_t rows = 0;
  ForEachOption(PipelineSpec(), [&](const std::string&, const Option& o) {
    if (md.find("| `" + o.name + "` |") != std::string::npos) ++rows;
  });
  size_t options = 0;
  ForEachOption(PipelineSpec(), [&](const std::string&, const Option&) { ++options; });
  CHECK(rows == options);
}

TEST_CASE("did-you-mean picks close names only") {
  CHECK(ClosestMatch("regx", {"field", "regex", "action"}) == "regex");
  CHECK(ClosestMatch("fiedl", {"field", "regex"}) == "field");  // transposition
  CHECK(ClosestMatch("cleanr", {"cleaner", "sink"}) == "cleaner");
  CHECK(ClosestMatch("zzzz", {"field", "regex"}) == "");
  CHECK(ClosestMatch("a", {"ab", "b"}) == "ab");
}

TEST_CASE("a one-line declaration is enough to validate and default a new option") {
  Section s("test");
  s.Add("window", OptionType::kDuration).Default("5s").Describe("d").Example("1m");
  s.Add("count", OptionType::kInt).Min(1).Describe("c").Example("3");
  s.Add("mode", OptionType::kEnum).Allowed({"fast", "safe"}).Required().Describe("m").Example("safe");
  Validator v("t.yaml");
  YAML::Node out = v.ValidateSection(YAML::Load("mode: fsat\ncount: 0\n"), s, "x");
  CHECK(FormatIssues(v.Issues()) ==
        "t.yaml:1:7: x.mode: expected one of 'fast', 'safe', got 'fsat' (did you mean 'fast'?)\n"
        "t.yaml:2:8: x.count: must be at least 1, got 0\n");
  CHECK(out["window"].Scalar() == "5s");
}

// docs/pipeline-file.md is generated from the declarations; this keeps it from going stale.
// Regenerate with: SLUICE_UPDATE_DOCS=1 <build>/tests/test_unit_pipeline_spec_test
TEST_CASE("docs/pipeline-file.md matches the declarations") {
  std::string path = std::string(SLUICE_SOURCE_DIR) + "/docs/pipeline-file.md";
  std::string generated = PipelineDocsMarkdown();
  if (std::getenv("SLUICE_UPDATE_DOCS")) {
    std::ofstream(path, std::ios::binary) << generated;
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream current;
  current << in.rdbuf();
  INFO("regenerate with SLUICE_UPDATE_DOCS=1 and the test binary");
  CHECK(current.str() == generated);
}
