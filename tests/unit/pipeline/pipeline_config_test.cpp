#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/core/error.hpp"

namespace fs = std::filesystem;
using sluice::config::Environment;
using sluice::pipeline::PipelineConfig;
using sluice::config::Stage;

namespace {

fs::path Good(const std::string& name) {
  return fs::path(SLUICE_TEST_DATA_DIR) / "config" / "good" / name;
}

std::string Formatted(const std::vector<sluice::config::Issue>& issues) {
  return sluice::config::FormatIssues(issues);
}

// A use case's folder may hold its data and tools before its pipeline file: then its README.md
// says "no pipeline.yaml yet" (pipelines/README.md).
bool DeclaresNoPipelineYet(const fs::path& folder) {
  std::ifstream in(folder / "README.md");
  std::stringstream text;
  text << in.rdbuf();
  return text.str().find("no pipeline.yaml yet") != std::string::npos;
}

}  // namespace

TEST_CASE("good pipeline files validate") {
  for (const char* name : {"loans.yaml", "minimal.yaml", "watched_dir.yaml"}) {
    INFO(name);
    PipelineConfig config;
    auto issues = PipelineConfig::Check(Good(name), Environment(), &config);
    CHECK(Formatted(issues) == "");
  }
}

TEST_CASE("defaults are filled and topic names derive from the pipeline name") {
  auto config = PipelineConfig::Load(Good("loans.yaml"), Environment());
  CHECK(config.Name() == "loans");
  CHECK(config.TopicNames().raw == "loans.raw");
  CHECK(config.TopicNames().clean == "loans.clean");
  CHECK(config.TopicNames().enriched == "loans.enriched");
  CHECK(config.TopicNames().dlq == "loans.dlq");
  CHECK(config.TopicNames().partitions == 3);
  CHECK(config.TopicNames().replication == 1);

  auto producer = config.SectionView("producer");
  CHECK(producer.Int("batch_size") == 2000);
  CHECK(config.SectionView("cleaner").Duration("linger") == std::chrono::milliseconds(200));
  auto sources = producer.Items("sources");
  REQUIRE(sources.size() == 1);
  CHECK(sources[0].String("type") == "csv");
  CHECK(sources[0].String("glob") == "*.csv");
  CHECK(sources[0].Bool("watch") == false);
  CHECK(sources[0].String("delimiter") == ",");
  CHECK(sources[0].StringMap("columns").at("Class") == "class");
  CHECK(sources[0].Path() == "producer.sources[0]");

  auto rules = config.SectionView("cleaner").Items("rules");
  REQUIRE(rules.size() == 9);
  CHECK(rules[0].String("action") == "reject");
  CHECK(rules[1].String("extract") == "term_(\\d+)");
  CHECK(rules[6].String("action") == "fix");   // impute defaults to fix
  CHECK(rules[8].String("action") == "flag");  // outlier defaults to flag
  CHECK(rules[8].Double("max") == 100);
  CHECK_FALSE(rules[8].Has("min"));
  CHECK(rules[7].Duration("window") == std::chrono::hours(1));

  auto sink = config.SectionView("sink");
  CHECK(sink.String("schema") == "public");
  CHECK(sink.Bool("create_table"));
  CHECK(sink.Duration("batch_linger") == std::chrono::milliseconds(500));

  CHECK(config.ConsumerGroup(Stage::kPgSink) == "sluice-sink-loans");
  CHECK(config.SectionView("retry").Duration("budget") == std::chrono::minutes(5));
}

TEST_CASE("schema paths resolve against the file and fall back raw <- clean <- enriched") {
  auto config = PipelineConfig::Load(Good("loans.yaml"), Environment());
  fs::path expected = (fs::path(SLUICE_TEST_DATA_DIR) / "config" / "schemas" / "loan.avsc")
                          .lexically_normal();
  CHECK(config.SchemaPath("raw") == expected);
  CHECK(config.SchemaPath("clean") == expected);  // not set: same as raw
  CHECK(config.SchemaPath("enriched") == expected);
  CHECK(config.SchemaPath("key").empty());
}

TEST_CASE("librdkafka settings pass through with stage overrides and env endpoints") {
  Environment env({{"SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"},
                   {"SLUICE_KAFKA_SASL_PASSWORD", "s3cret"}});
  auto config = PipelineConfig::Load(Good("loans.yaml"), env);
  auto producer = config.Librdkafka(Stage::kProducer);
  CHECK(producer.at("compression.type") == "zstd");
  CHECK(producer.at("linger.ms") == "20");
  CHECK(producer.at("bootstrap.servers") == "127.0.0.1:19092");
  CHECK(producer.at("sasl.password") == "s3cret");
  CHECK(producer.count("fetch.max.bytes") == 0);
  CHECK(producer.count("producer") == 0);
  auto sink = config.Librdkafka(Stage::kPgSink);
  CHECK(sink.at("fetch.max.bytes") == "10485760");
  CHECK(sink.count("linger.ms") == 0);
}

TEST_CASE("the instance id comes from SLUICE_INSTANCE_ID, 0 when unset or empty") {
  CHECK(PipelineConfig::Load(Good("loans.yaml"), Environment()).InstanceId() == "0");
  CHECK(PipelineConfig::Load(Good("loans.yaml"), Environment({{"SLUICE_INSTANCE_ID", ""}}))
            .InstanceId() == "0");
  CHECK(PipelineConfig::Load(Good("loans.yaml"), Environment({{"SLUICE_INSTANCE_ID", "2"}}))
            .InstanceId() == "2");
}

TEST_CASE("environment supplies endpoints, bad values are reported by variable") {
  Environment env({{"SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"},
                   {"SLUICE_REGISTRY_URL", "http://127.0.0.1:18081/"},
                   {"SLUICE_PG_URL", "postgresql://sluice:pw@127.0.0.1:15432/sluice"}});
  auto config = PipelineConfig::Load(Good("minimal.yaml"), env);
  CHECK(config.Endpoint().kafka_brokers == "127.0.0.1:19092");
  CHECK(config.Endpoint().registry_url == "http://127.0.0.1:18081");
  CHECK(config.Endpoint().pg_conninfo == "postgresql://sluice:pw@127.0.0.1:15432/sluice");
  CHECK_NOTHROW(config.RequireKafka());
  CHECK_NOTHROW(config.RequireRegistry());
  CHECK_NOTHROW(config.RequirePg());

  auto bare = PipelineConfig::Load(Good("minimal.yaml"), Environment());
  CHECK_THROWS_WITH(bare.RequireKafka(), Catch::Contains("SLUICE_KAFKA_BROKERS is not set"));
  CHECK_THROWS_WITH(bare.RequireRegistry(), Catch::Contains("SLUICE_REGISTRY_URL is not set"));
  CHECK_THROWS_AS(bare.RequirePg(), sluice::core::ConfigError);
  auto libpq_only = PipelineConfig::Load(Good("minimal.yaml"), Environment(std::map<std::string, std::string>{{"PGHOST", "127.0.0.1"}}));
  CHECK_NOTHROW(libpq_only.RequirePg());

  Environment bad({{"SLUICE_REGISTRY_URL", "127.0.0.1:18081"}, {"PGPORT", "fifteen"}});
  auto issues = PipelineConfig::Check(Good("minimal.yaml"), bad);
  CHECK(Formatted(issues) ==
        "environment: SLUICE_REGISTRY_URL: expected an http:// or https:// URL, got "
        "'127.0.0.1:18081'\n"
        "environment: PGPORT: expected a port number, got 'fifteen'\n");
}

TEST_CASE("print-config shows defaults, masks secrets and is itself a valid pipeline file") {
  Environment env({{"SLUICE_KAFKA_BROKERS", "127.0.0.1:19092"},
                   {"SLUICE_PG_URL", "postgresql://sluice:pw@127.0.0.1:15432/sluice"},
                   {"PGPASSWORD", "pw"}});
  auto config = PipelineConfig::Load(Good("loans.yaml"), env);
  std::string yaml = config.ToYaml();
  CHECK(yaml.find("SLUICE_KAFKA_BROKERS=127.0.0.1:19092") != std::string::npos);
  CHECK(yaml.find("SLUICE_PG_URL=postgresql://sluice:****@127.0.0.1:15432/sluice") !=
        std::string::npos);
  CHECK(yaml.find("PGPASSWORD=****") != std::string::npos);
  CHECK(yaml.find("pw@") == std::string::npos);
  CHECK(yaml.find("raw: loans.raw") != std::string::npos);
  CHECK(yaml.find("offsets_table: sluice_offsets") != std::string::npos);

  // Re-validating the printed config gives the same effective config.
  PipelineConfig again;
  auto issues = PipelineConfig::CheckText(yaml, "printed.yaml", Good("loans.yaml").parent_path(),
                                          env, &again);
  CHECK(Formatted(issues) == "");
  CHECK(again.ToYaml().substr(again.ToYaml().find("\npipeline:")) ==
        yaml.substr(yaml.find("\npipeline:")));
}

TEST_CASE("the pipeline files shipped in pipelines/ validate") {
  // A pipeline is a folder: pipelines/<p>/pipeline.yaml (pipelines/README.md).
  fs::path dir = fs::path(SLUICE_SOURCE_DIR) / "pipelines";
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_directory()) continue;
    const fs::path file = entry.path() / "pipeline.yaml";
    if (!fs::exists(file) && DeclaresNoPipelineYet(entry.path())) continue;
    INFO(file.string());
    REQUIRE(fs::is_regular_file(file));
    CHECK(Formatted(PipelineConfig::Check(file, Environment())) == "");
    ++count;
  }
  CHECK(count >= 1);  // loans at least
}
