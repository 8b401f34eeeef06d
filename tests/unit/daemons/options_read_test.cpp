// Every option the pipeline file declares is read by a daemon: each daemon builds its options
// and its stage from a loaded pipeline file that records what is read, and any declared
// option nobody read fails the test (it would be accepted from the file, then silently
// ignored, as producer.linger and schemas.key once were). Options inside rule, step and
// source lists are held to the same rule per component type by
// tests/unit/stages/components_test.cpp.
#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <set>

#include "cleaner_stage.hpp"
#include "csv_producer.hpp"
#include "enricher_stage.hpp"
#include "pg_sink.hpp"
#include "sluice/config/spec.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/pipeline/pipeline_spec.hpp"
#include "sluice/runtime/transform_loop.hpp"

namespace fs = std::filesystem;
using namespace sluice;

namespace {

// Declared options no daemon read; list items and variants are the component tests' part.
std::set<std::string> Unread(const std::set<std::string>& read) {
  static const std::regex kIndex(R"(\[[0-9]+\])");
  std::set<std::string> generic;
  for (const auto& key : read) generic.insert(std::regex_replace(key, kIndex, "[]"));
  std::set<std::string> unread;
  config::ForEachOption(pipeline::PipelineSpec(), [&](const std::string& path, const config::Option&) {
    if (path.find('[') != std::string::npos) return;  // inside a list of components
    if (path == "description") return;                // free text for people
    if (generic.count(path) == 0) unread.insert(path);
  });
  return unread;
}

pipeline::PipelineConfig Tracked() {
  const fs::path file = fs::path(SLUICE_TEST_DATA_DIR) / "config" / "good" / "loans.yaml";
  auto config = pipeline::PipelineConfig::Load(file, config::Environment(std::map<std::string, std::string>{}));
  config.TrackReads();
  return config;
}

}  // namespace

TEST_CASE("every option of the pipeline file is read by the daemon it configures") {
  const auto config = Tracked();
  producer::ProducerOptionsFromConfig(config, false);
  runtime::OptionsFromConfig(config, config::Stage::kCleaner);
  cleaner::CleanerStage cleaner(config);
  runtime::OptionsFromConfig(config, config::Stage::kEnricher);
  enricher::EnricherStage enricher(config);
  pg_sink::SinkOptionsFromConfig(config);
  const auto unread = Unread(config.KeysRead());
  for (const auto& path : unread) UNSCOPED_INFO("not read: " << path);
  CHECK(unread.empty());
}

TEST_CASE("the unread-options check sees an option no daemon reads") {
  const auto config = Tracked();
  pg_sink::SinkOptionsFromConfig(config);  // the sink alone leaves the other stages' options unread
  const auto unread = Unread(config.KeysRead());
  CHECK(unread.count("cleaner.batch_size") == 1);
  CHECK(unread.count("producer.max_record_bytes") == 1);
  CHECK(unread.count("sink.batch_size") == 0);
}
