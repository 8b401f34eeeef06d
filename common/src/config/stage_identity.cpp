#include "sluice/config/stage_identity.hpp"

#include <array>

#include "sluice/core/error.hpp"

namespace sluice::config {
namespace {

// The sink's group and DLQ value predate this table and are on the wire and in PostgreSQL
// (sluice_offsets.consumer_group): "sluice-sink-", not "sluice-pg-sink-".
constexpr std::array<StageIdentity, 5> kStages = {{
    // stage            id          section     binary             group prefix
    //                  transactional prefix    DLQ stage   port
    {Stage::kProducer, "producer", "producer", "sluice-producer", "",
     "sluice-producer-", "producer", 9101},
    {Stage::kCleaner, "cleaner", "cleaner", "sluice-cleaner", "sluice-cleaner-",
     "sluice-cleaner-", "cleaner", 9102},
    {Stage::kEnricher, "enricher", "enricher", "sluice-enricher", "sluice-enricher-",
     "sluice-enricher-", "enricher", 9103},
    {Stage::kPgSink, "pg-sink", "sink", "sluice-pg-sink", "sluice-sink-",
     "", "pg-sink", 9104},
    {Stage::kRegistry, "registry", "", "sluice-registry", "",
     "", "", 18081},
}};

std::string Cell(std::string_view prefix, std::string_view pattern) {
  return prefix.empty() ? "-" : std::string(prefix) + std::string(pattern);
}

}  // namespace

std::span<const StageIdentity> StageIdentities() { return kStages; }

const StageIdentity& IdentityOf(Stage stage) {
  for (const auto& s : kStages) {
    if (s.stage == stage) return s;
  }
  SLUICE_ASSERT(false, "a Stage without a row in the stage identity table");
  return kStages[0];
}

const StageIdentity* FindStageById(std::string_view id) {
  for (const auto& s : kStages) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

std::string ConsumerGroupOf(Stage stage, std::string_view pipeline) {
  const StageIdentity& s = IdentityOf(stage);
  SLUICE_ASSERT(!s.group_prefix.empty(), "this stage joins no consumer group");
  return std::string(s.group_prefix) + std::string(pipeline);
}

std::string GroupInstanceIdOf(Stage stage, std::string_view pipeline, std::string_view instance) {
  return ConsumerGroupOf(stage, pipeline) + "-" + std::string(instance);
}

std::string TransactionalIdOf(Stage stage, std::string_view pipeline, std::string_view instance) {
  const StageIdentity& s = IdentityOf(stage);
  SLUICE_ASSERT(!s.transactional_prefix.empty(), "this stage has no transactional producer");
  return std::string(s.transactional_prefix) + std::string(pipeline) + "-" + std::string(instance);
}

std::string StagesTable() {
  std::string out = "id\tsection\tbinary\tconsumer_group\ttransactional_id\tdlq_stage\tport\n";
  for (const auto& s : kStages) {
    out += std::string(s.id) + "\t" + Cell(s.section, "") + "\t" + std::string(s.binary) + "\t" +
           Cell(s.group_prefix, "<pipeline>") + "\t" +
           Cell(s.transactional_prefix, "<pipeline>-<instance>") + "\t" + Cell(s.dlq_stage, "") +
           "\t" + std::to_string(s.port) + "\n";
  }
  return out;
}

}  // namespace sluice::config
