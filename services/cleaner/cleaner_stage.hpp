#pragma once
// The cleaner as a runtime::TransformStage: a thin adapter from the declarative rules engine
// (stages::Cleaner, rules from the pipeline file's `cleaner.rules`) to the stage contract.
// Emit -> the typed clean row; reject -> the DLQ with the rule's name and reason (duplicates
// are rejects of the dedupe rule, e.g. "duplicate"); drop -> the DLQ with rule "drop" and
// "<rule>: <reason>". One per transform loop; single-threaded.
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/runtime/stage.hpp"
#include "sluice/stages/cleaner.hpp"

namespace sluice::cleaner {

class CleanerStage : public runtime::TransformStage {
 public:
  // Throws core::ConfigError (bad rules or schema).
  explicit CleanerStage(const pipeline::PipelineConfig& config);
  explicit CleanerStage(stages::Cleaner cleaner) : cleaner_(std::move(cleaner)) {}
  runtime::StageResult Process(runtime::Record record) override;
  // Dedupe windows, imputation and z-score statistics are rebuilt from the clean topic.
  bool WantsWarm() const override { return true; }
  void Warm(const runtime::Record& emitted) override;

 private:
  stages::Cleaner cleaner_;
};

}  // namespace sluice::cleaner
