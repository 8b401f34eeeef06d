#pragma once
// The identity of every Sluice daemon, in one table: how config, runtime, services, deploy
// scripts and tests spell a stage. Each column is spelled here and nowhere else; scripts read
// the table from any daemon with `--print-stages`.
//
// Some columns are on the wire or in storage (consumer groups, transactional ids, the
// sink's offset keys in PostgreSQL, the `sluice-dlq-stage` header): changing one makes an
// upgraded deployment re-read or duplicate data. tests/unit/config/stage_identity_test.cpp
// pins them. The table is a constant: safe to read from any thread.
#include <span>
#include <string>
#include <string_view>

namespace sluice::config {

// The daemons. kPgSink is spelled "pg-sink" (id), "sink" (pipeline-file section),
// "sluice-pg-sink" (binary) and "sluice-sink-<p>" (consumer group): see the table.
enum class Stage { kProducer, kCleaner, kEnricher, kPgSink, kRegistry };

struct StageIdentity {
  Stage stage;
  // The daemon's name in deploy scripts (`deploy/local/pipeline up --only pg-sink`), logs of
  // the supervisor and tests.
  std::string_view id;
  // Its section of the pipeline file, also the key of its librdkafka overrides
  // (`librdkafka.sink`); "" for the registry, which reads no pipeline file.
  std::string_view section;
  std::string_view binary;  // "sluice-pg-sink"
  // The consumer group is this prefix plus the pipeline name; "" when the stage joins none.
  // On the wire (and the sink's key in its PostgreSQL offsets table).
  std::string_view group_prefix;
  // transactional.id is this prefix, the pipeline name, '-', the instance id; "" when the
  // stage's producer is not transactional. On the wire.
  std::string_view transactional_prefix;
  // The value of the sluice-dlq-stage header on this stage's DLQ records; "" when it writes
  // none. On the wire.
  std::string_view dlq_stage;
  // The health port in container deployments (docker-compose.yml, deploy/k8s), where each
  // daemon has a network namespace of its own and the manifests set it with SLUICE_HTTP_PORT.
  // Not a default: on a shared host a daemon binds any free port unless told otherwise (the
  // registry: its REST port, the default of --port).
  int port;
};

// Every stage, in pipeline order (producer, cleaner, enricher, pg-sink), then the registry.
std::span<const StageIdentity> StageIdentities();
const StageIdentity& IdentityOf(Stage stage);
// By id ("pg-sink"); nullptr when no stage has it.
const StageIdentity* FindStageById(std::string_view id);

// "sluice-<...>-<pipeline>". Asserts that the stage joins a group.
std::string ConsumerGroupOf(Stage stage, std::string_view pipeline);
// The group member id of static membership: the consumer group, '-', the instance id.
std::string GroupInstanceIdOf(Stage stage, std::string_view pipeline, std::string_view instance);
// Asserts that the stage is transactional.
std::string TransactionalIdOf(Stage stage, std::string_view pipeline, std::string_view instance);

// The table as tab-separated text with a header line, for `--print-stages`. Patterns use
// <pipeline> and <instance>; an empty cell is "-".
std::string StagesTable();

}  // namespace sluice::config
