// One runner for every bad pipeline file: tests/data/config/bad/<case>.yaml must produce
// exactly the issues in <case>.expected (one per line, as --check prints them). A new case
// is a new pair of files.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/core/error.hpp"

namespace fs = std::filesystem;
using sluice::config::Environment;
using sluice::config::FormatIssues;
using sluice::pipeline::PipelineConfig;

namespace {

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("every bad pipeline file yields exactly its expected messages") {
  fs::path dir = fs::path(SLUICE_TEST_DATA_DIR) / "config" / "bad";
  std::vector<fs::path> cases;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".yaml") cases.push_back(entry.path());
  }
  std::sort(cases.begin(), cases.end());
  REQUIRE(cases.size() >= 15);
  for (const auto& file : cases) {
    fs::path expected_file = file;
    expected_file.replace_extension(".expected");
    INFO("case " << file.filename().string());
    REQUIRE(fs::exists(expected_file));
    auto issues = PipelineConfig::CheckText(ReadAll(file), file.filename().string(),
                                            file.parent_path(), Environment());
    CHECK_FALSE(issues.empty());
    CHECK(FormatIssues(issues) == ReadAll(expected_file));
  }
}

TEST_CASE("Load throws one ConfigError listing every issue of the file") {
  fs::path file = fs::path(SLUICE_TEST_DATA_DIR) / "config" / "bad" / "unknown_key.yaml";
  try {
    PipelineConfig::Load(file, Environment());
    FAIL("expected a ConfigError");
  } catch (const sluice::core::ConfigError& e) {
    std::string what = e.what();
    CHECK(what.find("unknown_key.yaml:19:7: cleaner.rules[3].regx: unknown key 'regx' "
                    "(did you mean 'regex'?)") != std::string::npos);
    CHECK(what.find("missing required key 'regex'") != std::string::npos);
  }
}

TEST_CASE("a missing file is one clear issue") {
  auto issues = PipelineConfig::Check("/nonexistent/loans.yaml", Environment());
  REQUIRE(issues.size() == 1);
  CHECK(issues[0].Format() ==
        "/nonexistent/loans.yaml: cannot read the pipeline file: No such file or directory");
}
