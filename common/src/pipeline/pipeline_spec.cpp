#include "sluice/pipeline/pipeline_spec.hpp"

#include <algorithm>
#include <filesystem>
#include <regex>

#include "sluice/config/stage_identity.hpp"
#include "sluice/stages/cleaner.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/enricher.hpp"

namespace sluice::pipeline {

// The option-spec and issue vocabulary of the config module, used throughout this file.
using namespace sluice::config;  // NOLINT(google-build-using-namespace)
namespace {

using T = OptionType;

// The keys that may hold a stage's librdkafka overrides: the sections of the stages that read
// the pipeline file.
const std::vector<std::string>& StageSections() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const auto& s : StageIdentities()) {
      if (!s.section.empty()) out.emplace_back(s.section);
    }
    return out;
  }();
  return keys;
}

std::string StageSectionList() {
  std::string out;
  for (const auto& key : StageSections()) out += (out.empty() ? "" : ", ") + key;
  return out;
}

// Override keys that older files used, with what to write instead.
const std::map<std::string, std::string> kFormerStageKeys = {
    {"pg_sink", "the sink's overrides are under 'sink', the name of its section"},
    {"registry", "sluice-registry reads no pipeline file; pass it librdkafka properties with -X key=value"},
    {"replay", "sluice-replay uses the overrides of the stage it runs through (cleaner or enricher)"},
};

// Settings that carry endpoints or secrets must come from the environment.
const std::map<std::string, std::string> kForbiddenKafkaKeys = {
    {"bootstrap.servers", "SLUICE_KAFKA_BROKERS"},
    {"metadata.broker.list", "SLUICE_KAFKA_BROKERS"},
    {"sasl.username", "SLUICE_KAFKA_SASL_USERNAME"},
    {"sasl.password", "SLUICE_KAFKA_SASL_PASSWORD"},
    {"ssl.key.password", "the environment"},
    {"ssl.keystore.password", "the environment"},
    {"sasl.oauthbearer.client.secret", "the environment"},
};

YAML::Node KafkaScalarMap(const YAML::Node& node, const std::string& path, Validator& v,
                          bool allow_stages) {
  YAML::Node out(YAML::NodeType::Map);
  if (!node.IsMap()) {
    v.Error(node, path, "expected a map of librdkafka properties, got " + Describe(node));
    return out;
  }
  for (const auto& kv : node) {
    std::string key = kv.first.Scalar();
    std::string key_path = JoinPath(path, key);
    if (key == "group.instance.id" || key == "transactional.id") {
      // One file serves every replica: a fixed id here would be shared, and replicas sharing
      // one fence each other.
      v.Error(kv.first, key_path,
              "'" + key + "' must not be set in the pipeline file: every replica reads this "
              "file, so the runtime derives it per replica from SLUICE_INSTANCE_ID");
      continue;
    }
    if (auto it = kForbiddenKafkaKeys.find(key); it != kForbiddenKafkaKeys.end()) {
      v.Error(kv.first, key_path,
              "'" + key + "' must not be set in the pipeline file: endpoints and secrets come "
              "from the environment; set " + it->second + " instead");
      continue;
    }
    if (kv.second.IsMap()) {
      const auto& stages = StageSections();
      if (!allow_stages || std::find(stages.begin(), stages.end(), key) == stages.end()) {
        std::string hint = allow_stages ? ClosestMatch(key, stages) : "";
        auto former = kFormerStageKeys.find(key);
        v.Error(kv.second, key_path,
                !allow_stages ? "expected a librdkafka property value, got a map"
                : former != kFormerStageKeys.end()
                    ? "'" + key + "' holds no overrides: " + former->second
                    : "only stage sections (" + StageSectionList() +
                          ") may hold a map of overrides" +
                          (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)"));
        continue;
      }
      out[key] = KafkaScalarMap(kv.second, key_path, v, false);
      continue;
    }
    if (!kv.second.IsScalar()) {
      v.Error(kv.second, key_path, "expected a librdkafka property value, got " + Describe(kv.second));
      continue;
    }
    out[key] = kv.second.Scalar();  // passed through untouched
  }
  return out;
}

void DeclareTopics(Section& root) {
  auto& t = root.Add("topics", T::kSection).Describe("Kafka topics of the pipeline").Fields();
  t.Add("raw", T::kString).Default("{pipeline}.raw").DefaultDoc("<pipeline>.raw").Describe("Producer output").Example("loans.raw");
  t.Add("clean", T::kString).Default("{pipeline}.clean").DefaultDoc("<pipeline>.clean").Describe("Cleaner output").Example("loans.clean");
  t.Add("enriched", T::kString).Default("{pipeline}.enriched").DefaultDoc("<pipeline>.enriched").Describe("Enricher output, read by the sink").Example("loans.enriched");
  t.Add("dlq", T::kString).Default("{pipeline}.dlq").DefaultDoc("<pipeline>.dlq").Describe("Dead-letter topic shared by all stages").Example("loans.dlq");
  t.Add("partitions", T::kInt).Default("6").Min(1).Max(10000).Describe("Partitions of each topic created by Sluice").Example("6");
  t.Add("replication", T::kInt).Default("1").Min(1).Max(16).Describe("Replication factor of each topic created by Sluice").Example("3");
  t.Add("configs", T::kMap).Default("{}").Describe("Topic configs applied at creation").Example("{retention.ms: '604800000'}");
}

void DeclareSchemas(Section& root) {
  auto& s = root.Add("schemas", T::kSection).Describe("Avro schema files (.avsc), relative to the pipeline file").Fields();
  s.Add("raw", T::kString).Describe("Value schema of the raw topic").Example("schemas/loans.raw.v1.avsc");
  s.Add("clean", T::kString).DefaultDoc("same as raw").Describe("Value schema of the clean topic").Example("schemas/loans.clean.v1.avsc");
  s.Add("enriched", T::kString).DefaultDoc("same as clean").Describe("Value schema of the enriched topic").Example("schemas/loans.enriched.v1.avsc");
}

// max_record_bytes: `what` names a record of the stage's input.
void DeclareMaxRecordBytes(Section& s, const std::string& what) {
  s.Add("max_record_bytes", T::kInt).Default("921600").Min(1024).Describe("Largest " + what + " in bytes; a larger one goes to the DLQ as too_large, undecoded (keep it under the DLQ topic's max.message.bytes so its copy fits whole)").Example("2097152");
}

void DeclareProducer(Section& root) {
  auto& p = root.Add("producer", T::kSection).Describe("The producer daemon: sources to the raw topic").Fields();
  auto& sources = p.Add("sources", T::kVariantList).Required().Describe("Where records come from").Example("[{type: csv, path: sample/lending_club_sample.csv}]");

  stages::SourceTypes().Declare(sources);
  p.Removed("linger", "the producer never read it: it commits a batch when batch_size records are in or its sources pause");

  p.Add("key", T::kList).Required().Describe("Fields whose values, joined with '|', form the message key").Example("[loan_id]");
  auto& id = p.Add("id", T::kSection).Describe("Derive a stable id field for sources without one").Fields();
  id.Add("field", T::kString).Required().Describe("Field that receives the id").Example("loan_id");
  id.Add("from", T::kList).Default("[]").Describe("Fields hashed into the id ([] = every source column plus the source name and row)").Example("[funded_amnt, sub_grade, addr_state]");
  id.Add("prefix", T::kString).Default("''").Describe("Prefix of the hex digest").Example("'LC-'");
  p.Add("batch_size", T::kInt).Default("10000").Min(1).Describe("Most records per Kafka transaction (one commit round trip each)").Example("5000");
  DeclareMaxRecordBytes(p, "source record (a CSV line, an encoded row)");
}

// A stage run by runtime::TransformLoop: its section with the loop's options
// (runtime::OptionsFromConfig reads them).
Section& DeclareTransformStage(Section& root, const std::string& key, const std::string& description) {
  auto& s = root.Add(key, T::kSection).Describe(description).Fields();
  s.Add("batch_size", T::kInt).Default("10000").Min(1).Describe("Most records per Kafka transaction (one commit round trip each)").Example("5000");
  DeclareMaxRecordBytes(s, "input record");
  s.Add("linger", T::kDuration).Default("200ms").Describe("Longest a transaction stays open: it commits when batch_size records are in, linger has passed since it began, or the input pauses").Example("1s");
  return s;
}

void DeclareCleaner(Section& root) {
  auto& c = DeclareTransformStage(root, "cleaner", "The cleaner daemon: raw topic to clean topic");
  auto& rules = c.Add("rules", T::kVariantList).Default("[]").Describe("Rules applied in order to each record").Example("[{type: required, fields: [loan_id]}]");
  stages::CleanerRules().Declare(rules);
}

void DeclareEnricher(Section& root) {
  auto& e = DeclareTransformStage(root, "enricher", "The enricher daemon: clean topic to enriched topic");
  auto& steps = e.Add("steps", T::kVariantList).Default("[]").Describe("Enrichment steps applied in order").Example("[{type: derive, field: grade, function: substr, from: sub_grade, length: 1}]");
  stages::EnricherSteps().Declare(steps);
}

void DeclareSink(Section& root) {
  auto& s = root.Add("sink", T::kSection).Describe("The pg-sink daemon: enriched topic to a PostgreSQL table").Fields();
  s.Add("table", T::kString).Required().Describe("Target table").Example("loans");
  s.Add("schema", T::kString).Default("public").Describe("PostgreSQL schema of the table").Example("analytics");
  s.Add("key", T::kList).Required().Describe("Primary key columns; rows are upserted by them").Example("[loan_id]");
  s.Add("batch_size", T::kInt).Default("10000").Min(1).Describe("Most records per PostgreSQL transaction").Example("20000");
  DeclareMaxRecordBytes(s, "input record");
  s.Add("batch_linger", T::kDuration).Default("500ms").Describe("Longest wait before a partial batch is written").Example("1s");
  s.Add("create_table", T::kBool).Default("true").Describe("Create the table from the Avro schema if missing").Example("true");
  s.Add("add_columns", T::kBool).Default("true").Describe("Add new schema fields as nullable columns").Example("true");
  s.Add("views", T::kList).Default("[]").Describe("SQL files run after the table exists (CREATE OR REPLACE VIEW ...), relative to the pipeline file").Example("[sql/views.sql]");
  s.Add("offsets_table", T::kString).Default("sluice_offsets").Describe("Table holding consumed offsets, written in the same transaction as rows").Example("sluice_offsets");
}

void DeclareRuntime(Section& root) {
  root.Add("librdkafka", T::kMap).Default("{}").Describe("librdkafka properties passed through untouched; a stage's section name (" + StageSectionList() + ") holds that stage's overrides. bootstrap.servers and credentials come from the environment; group.instance.id and transactional.id are derived from SLUICE_INSTANCE_ID.").Example("{compression.type: zstd, producer: {linger.ms: '20'}}")
      .Custom([](const YAML::Node& raw, const std::string& path, Validator& v) {
        return KafkaScalarMap(raw, path, v, true);
      });

  // Health ports in the dataset file made two pipelines on one host collide.
  root.Removed("http", "the health server's port and address are deployment settings: "
                       "--http-port / SLUICE_HTTP_PORT (default 0: any free port, written to "
                       "--http-port-file / SLUICE_HTTP_PORT_FILE) and --http-bind / "
                       "SLUICE_HTTP_BIND (default 127.0.0.1) of each daemon; see "
                       "docs/architecture.md, Operations");

  auto& retry = root.Add("retry", T::kSection).Describe("Backoff for infrastructure failures; when the budget is spent the daemon exits 1").Fields();
  retry.Add("initial_backoff", T::kDuration).Default("200ms").Describe("First wait after a failure").Example("100ms");
  retry.Add("max_backoff", T::kDuration).Default("30s").Describe("Longest wait between attempts").Example("10s");
  retry.Add("budget", T::kDuration).Default("5m").Describe("Total time spent retrying one failure before giving up").Example("10m");
}

Section BuildSpec() {
  Section root("The pipeline file: one per use case, read by every daemon");
  root.Add("pipeline", T::kString).Required().Describe("Pipeline name: lowercase letters, digits, '_' or '-'; prefixes topics and consumer groups").Example("loans");
  root.Add("description", T::kString).Describe("Free text").Example("Lending Club loans, Q1 2016");
  root.Check([](const YAML::Node& raw, const YAML::Node& eff, const std::string&, Validator& v) {
    if (!Lookup(eff, "pipeline").IsScalar()) return;
    static const std::regex kName("[a-z][a-z0-9_-]{0,62}");
    if (!std::regex_match(Lookup(eff, "pipeline").Scalar(), kName)) {
      v.Error(Lookup(raw, "pipeline"), "pipeline",
              "expected a lowercase name (letters, digits, '_' or '-', starting with a letter), got '" +
                  Lookup(eff, "pipeline").Scalar() + "'");
    }
  });
  DeclareTopics(root);
  DeclareSchemas(root);
  DeclareProducer(root);
  DeclareCleaner(root);
  DeclareEnricher(root);
  DeclareSink(root);
  DeclareRuntime(root);
  return root;
}

}  // namespace

const Section& PipelineSpec() {
  static const Section spec = BuildSpec();
  return spec;
}

std::string PipelineDocsMarkdown() {
  return RenderDocsMarkdown(PipelineSpec(), "Pipeline file reference");
}

}  // namespace sluice::pipeline
