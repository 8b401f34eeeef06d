// The stage logic reads the EFFECTIVE pipeline file (validated by sluice::config, defaults
// filled), which is what the daemons hand it: the loans pipeline must load and behave the
// same as from the raw YAML.
#include <catch2/catch.hpp>

#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/enricher.hpp"

using namespace sluice::stages;
using sluice::config::Environment;
using sluice::pipeline::PipelineConfig;

TEST_CASE("stages: the effective loans pipeline file configures producer, cleaner and enricher") {
  const auto config = PipelineConfig::Load(std::string(SLUICE_SOURCE_DIR) + "/pipelines/loans/pipeline.yaml", Environment());
  const RecordSpec raw = LoadRecordSpec(config.SchemaPath("raw").string());
  const RecordSpec clean = LoadRecordSpec(config.SchemaPath("clean").string());
  const RecordSpec enriched = LoadRecordSpec(config.SchemaPath("enriched").string());

  const auto producer = config.SectionView("producer");
  const auto settings = CsvSourceSettingsFromYaml(producer.Node()["sources"][0], producer.Node()["id"], raw,
                                                  "producer.sources[0]");
  CHECK(settings.id_field == "loan_id");
  CHECK(settings.id_prefix == "LC-");
  CHECK(settings.columns.at("Class") == "loan_class");
  CHECK(settings.fields.size() == raw.fields.size() - 1);

  Cleaner cleaner(config.SectionView("cleaner").Node()["rules"], clean, "cleaner.rules");
  CHECK(cleaner.RuleNames().size() == 26);
  const Row loan{{"loan_id", std::string("LC-1")},      {"funded_amnt", std::string("16100")},
                 {"term", std::string("term_36")},      {"int_rate", std::string("13.99")},
                 {"sub_grade", std::string("C4")},      {"addr_state", std::string("connecticut")},
                 {"verification_status", std::string("Not_Verified")},
                 {"annual_inc", std::string("0.0")},    {"emp_length", std::string("emp_ge_10")},
                 {"revol_util", std::string("67.4")},   {"loan_class", std::string("good")}};
  auto r = cleaner.Process(loan, 0);
  INFO(r.outcome.rule() << ": " << r.outcome.reason());
  REQUIRE(r.outcome.IsEmit());
  CHECK(r.row.Get("addr_state") == Value{std::string("CT")});
  CHECK(r.row.Get("term") == Value{std::int64_t{36}});
  CHECK(r.row.Get("emp_length") == Value{std::int64_t{10}});
  CHECK(r.flags == std::vector<std::string>{"annual_inc_zero"});
  CHECK(cleaner.Process(loan, 1000).outcome.rule() == "duplicate");

  EnricherDeps deps;
  deps.table_loader = [](const std::string&, const std::string&, const std::vector<std::string>&) {
    return [] { return std::vector<Row>{{{"code", std::string("CT")}, {"name", std::string("Connecticut")}, {"region", std::string("Northeast")}}}; };
  };
  Enricher enricher(config.SectionView("enricher").Node()["steps"], enriched, "enricher.steps", deps);
  auto e = enricher.Process(r.row, SteadyTime{});
  INFO(e.outcome.rule() << ": " << e.outcome.reason());
  REQUIRE(e.outcome.IsEmit());
  CHECK(e.row.Get("region") == Value{std::string("Northeast")});
  CHECK(e.row.Get("grade") == Value{std::string("C")});
}
