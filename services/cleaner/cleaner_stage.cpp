#include "cleaner_stage.hpp"

#include <chrono>

namespace sluice::cleaner {
namespace {

stages::Cleaner Build(const config::PipelineConfig& config) {
  return stages::Cleaner(config.SectionView("cleaner").Node()["rules"],
                         stages::LoadRecordSpec(config.SchemaPath("clean").string()),
                         config.File().string() + ": cleaner.rules");
}

}  // namespace

CleanerStage::CleanerStage(const config::PipelineConfig& config) : cleaner_(Build(config)) {}

runtime::Outcome CleanerStage::Process(runtime::Record record) {
  // The record's own time drives time windows (dedupe), so a replay decides as the first run.
  std::int64_t ts_ms = 0;
  if (record.source_time) {
    ts_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                record.source_time->time_since_epoch())
                .count();
  }
  stages::CleanResult result = cleaner_.Process(record.Row(), ts_ms);
  switch (result.verdict) {
    case stages::Verdict::kEmit:
      record.value = std::move(result.row);
      return runtime::EmitOne(std::move(record));
    case stages::Verdict::kDrop:
      return runtime::DropWith(result.rule + ": " + result.reason);
    case stages::Verdict::kReject:
      break;
  }
  return runtime::RejectWith(result.rule, result.reason);
}

}  // namespace sluice::cleaner
