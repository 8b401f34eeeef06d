#pragma once
// The pipeline file (pipelines/<name>/pipeline.yaml), loaded, strictly validated against the spec in
// pipeline_spec.hpp, with defaults filled and environment endpoints attached. Every daemon
// loads and validates the whole file, then reads its own section. Immutable after Load; read
// it from one thread at start-up (the YAML tree inside gives no thread-safety promise).
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/config/environment.hpp"
#include "sluice/config/issue.hpp"
#include "sluice/config/stage_identity.hpp"
#include "sluice/config/view.hpp"

namespace sluice::pipeline {

struct Topics {
  std::string raw, clean, enriched, dlq;
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> configs;
};

struct Endpoints {
  std::string kafka_brokers;  // "" when SLUICE_KAFKA_BROKERS is unset
  std::string registry_url;   // "" when SLUICE_REGISTRY_URL is unset
  std::string registry_username, registry_password;
  std::string pg_conninfo;    // SLUICE_PG_URL, or "" to let libpq read PG*
};

// Either a loaded config or the full list of issues.
class PipelineConfig {
 public:
  // Throws core::ConfigError whose message lists every issue, one per line.
  static PipelineConfig Load(const std::filesystem::path& file, const config::Environment& env);
  // Same checks without throwing; `out` is set only when there are no issues.
  static std::vector<config::Issue> Check(const std::filesystem::path& file, const config::Environment& env,
                                  PipelineConfig* out = nullptr);
  // For tests and tools: validates YAML text as if read from `display_name`, resolving
  // relative paths against `base_dir`.
  static std::vector<config::Issue> CheckText(const std::string& yaml, const std::string& display_name,
                                      const std::filesystem::path& base_dir,
                                      const config::Environment& env, PipelineConfig* out = nullptr);

  const std::string& Name() const { return name_; }
  const std::filesystem::path& File() const { return file_; }
  const Topics& TopicNames() const { return topics_; }
  const Endpoints& Endpoint() const { return endpoints_; }

  // A top-level section ("producer", "cleaner", "enricher", "sink", "http", "retry"...).
  config::View SectionView(const std::string& key) const;
  // Absolute path of the schema for "raw", "clean" or "enriched", or "" if not set.
  std::filesystem::path SchemaPath(const std::string& which) const;
  // The parsed schema of SchemaPath(which). Throws core::ConfigError when it is not set, not
  // readable or not a valid Avro schema, naming the file.
  avro::Schema LoadSchema(const std::string& which) const;
  // The librdkafka properties for one stage: the shared map, then the stage's overrides
  // (librdkafka.<section>), then bootstrap.servers and SASL credentials from the environment.
  std::map<std::string, std::string> Librdkafka(config::Stage stage) const;
  // The stage's Kafka identities for this pipeline and instance, from the stage identity
  // table: consumer group, static-membership id (group-<instance>), transactional.id.
  std::string ConsumerGroup(config::Stage stage) const;
  std::string GroupInstanceId(config::Stage stage) const;
  std::string TransactionalId(config::Stage stage) const;
  // Which running copy of a daemon this is: SLUICE_INSTANCE_ID, "0" when unset or empty.
  // Stable across restarts of the same copy and distinct between copies (a StatefulSet
  // ordinal), it suffixes the transactional.id and the group.instance.id of a stage.
  std::string InstanceId() const;

  // An issue found after validation (e.g. a field name checked against the schemas), located
  // at the node of key path `path` ("cleaner.rules[1].fields[0]") as written in the file, or
  // at its nearest written ancestor when the option was left to its default.
  config::Issue IssueAt(const std::string& path, std::string message) const;

  // From now on, records every option read through this config (SectionView, SchemaPath,
  // TopicNames, Librdkafka), so a test can prove each declared option is read by a daemon.
  void TrackReads();
  // Option paths read since TrackReads, e.g. "sink.batch_size", "cleaner.rules[0].field".
  std::set<std::string> KeysRead() const { return root_.KeysRead(); }

  // The effective configuration as YAML: defaults filled, environment shown, secrets masked.
  std::string ToYaml() const;

  // Throws core::ConfigError naming the variable if an endpoint this stage needs is unset.
  void RequireKafka() const;
  void RequireRegistry() const;
  void RequirePg() const;

 private:
  void ReadTopics();

  std::filesystem::path file_;
  std::string display_name_;  // the file as named by the user, for issues
  std::string name_;
  YAML::Node raw_;  // as written, with line marks
  YAML::Node effective_;
  config::View root_;  // the effective tree; tracked after TrackReads
  Topics topics_;
  Endpoints endpoints_;
  config::Environment env_;
};

}  // namespace sluice::pipeline
