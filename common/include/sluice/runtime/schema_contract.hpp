#pragma once
// The start-up schema contract (docs/architecture.md, "Avro and the registry"): before a
// daemon does any work, RunDaemon checks every subject the stage writes or reads against the
// registry, so a schema that does not fit what the registry holds stops the daemon with one
// message (core::ConfigError, exit 2) instead of failing later, record by record.
//
// - A subject the stage WRITES ("<output topic>-value"): when it exists, the configured schema
//   must already be one of its versions or pass the registry's compatibility test (verbose)
//   under the subject's effective level (its own, else the global one), against the versions
//   that level names, exactly as registering it would. A subject that does not exist yet is
//   fine: the stage registers it when it starts (first deployment).
// - A subject the stage READS ("<input topic>-value"): it must exist, or appear while the
//   check waits (the upstream daemon may start a little later: backoff from the retry policy's
//   initial to its max backoff, for at most its budget), and the configured reader schema must
//   resolve the subject's latest version (avro::Resolver, what the serde runs per record).
// - The registry unreachable is an infrastructure failure: every call is retried with the
//   retry policy and core::InfraError propagates when the budget is spent (exit 1), never
//   exit 2.
// Threading: one call, on the daemon's main thread, at start-up.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/config/stage_identity.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/registry/client.hpp"
#include "sluice/registry/subject.hpp"
#include "sluice/runtime/retry.hpp"

namespace sluice::runtime {

enum class SubjectRole { kWrites, kReads };

// One subject of a stage's contract, with the schema the pipeline file configures for it.
struct ContractSubject {
  SubjectRole role = SubjectRole::kWrites;
  registry::SubjectName subject{""};
  std::string shown_file;  // the schema file as the pipeline file names it, for messages
  avro::Schema schema;
  std::string upstream;  // kReads: the binary that registers the subject ("sluice-producer")
};

// The subjects `stage` writes and reads under `config` (its topics and schemas): producer
// writes raw; cleaner reads raw, writes clean; enricher reads clean, writes enriched; pg-sink
// reads enriched; the registry has none. The DLQ carries original bytes, no Avro subject.
// Throws core::ConfigError when a schema file is missing or does not parse.
std::vector<ContractSubject> ContractOf(const pipeline::PipelineConfig& config,
                                        config::Stage stage);

// What the check needs of a registry; the daemons use RegistryContractSource (the registry
// client), unit tests a fake. Implementations throw core::InfraError (kYes: unreachable).
class ContractSource {
 public:
  virtual ~ContractSource() = default;
  // The subject's effective compatibility level (its own, else the global one).
  virtual std::string Level(const registry::SubjectName& subject) = 0;
  // The subject's latest version, or nullopt when the subject does not exist.
  virtual std::optional<registry::RegisteredSchema> Latest(
      const registry::SubjectName& subject) = 0;
  // True when the schema is already one of the subject's versions.
  virtual bool Holds(const registry::SubjectName& subject, const std::string& schema_json) = 0;
  // The registry's verbose compatibility test under the subject's level: against the latest
  // version, or (all_versions) against the versions the level names.
  virtual registry::CompatibilityResult Test(const registry::SubjectName& subject,
                                             const std::string& schema_json, bool all_versions) = 0;
};

// A ContractSource over the registry client. The client must outlive it.
class RegistryContractSource : public ContractSource {
 public:
  explicit RegistryContractSource(registry::Client& client) : client_(client) {}
  std::string Level(const registry::SubjectName& subject) override;
  std::optional<registry::RegisteredSchema> Latest(const registry::SubjectName& subject) override;
  bool Holds(const registry::SubjectName& subject, const std::string& schema_json) override;
  registry::CompatibilityResult Test(const registry::SubjectName& subject,
                                     const std::string& schema_json, bool all_versions) override;

 private:
  registry::Client& client_;
};

// The result for one subject, logged at info.
struct ContractResult {
  std::string subject;
  SubjectRole role = SubjectRole::kWrites;
  std::string level;
  int version = 0;      // the subject's latest version checked; 0: the subject is new
  std::string verdict;  // "registered", "compatible", "new subject", "readable"
};

// Runs the check (see the file comment) and logs one info line per subject. Returns the
// results, or nullopt when shutdown was requested while waiting. Throws core::ConfigError with
// the one message when the contract is broken; core::InfraError when the registry stays
// unreachable past the retry budget.
std::optional<std::vector<ContractResult>> CheckSchemaContract(
    const std::vector<ContractSubject>& subjects, ContractSource& source,
    const RetryPolicy& retry, const core::ShutdownToken& shutdown, const obs::Logger& log);

// The messages of a broken contract (pure, for tests and the check):
//   schema contract: subject 'p.raw-value' (level BACKWARD): the configured schema
//   schemas/p.raw.v2.avsc is incompatible with version 3: <registry messages joined by "; ">
// `transitive`: the test ran against every version up to `version`.
std::string IncompatibleMessage(const std::string& subject, const std::string& level,
                                const std::string& file, int version, bool transitive,
                                const std::vector<std::string>& registry_messages);
//   schema contract: subject 'p.raw-value' (level BACKWARD): the configured reader schema
//   schemas/p.raw.v1.avsc cannot read version 3: <why>
std::string UnreadableMessage(const std::string& subject, const std::string& level,
                              const std::string& file, int version, const std::string& why);
//   schema contract: subject 'p.raw-value' (level BACKWARD): not registered after waiting
//   5m (the retry budget); sluice-producer registers it when it starts: ...
std::string MissingMessage(const std::string& subject, const std::string& level,
                           core::Duration waited, const std::string& upstream);

// True for the *_TRANSITIVE levels (case-insensitive); false for anything else.
bool IsTransitiveLevel(const std::string& level);

}  // namespace sluice::runtime
