#include "cleaner_stage.hpp"

#include <chrono>

namespace sluice::cleaner {
namespace {

stages::Cleaner Build(const pipeline::PipelineConfig& config) {
  return stages::Cleaner(config.SectionView("cleaner").Child("rules").Node(),
                         stages::LoadRecordSpec(config.SchemaPath("clean").string()),
                         config.File().string() + ": cleaner.rules");
}

std::int64_t TimestampMs(const runtime::Record& record) {
  if (!record.source_time) return 0;
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             record.source_time->time_since_epoch())
      .count();
}

}  // namespace

CleanerStage::CleanerStage(const pipeline::PipelineConfig& config) : cleaner_(Build(config)) {}

void CleanerStage::Warm(const runtime::Record& emitted) {
  if (emitted.IsDecoded()) cleaner_.Warm(emitted.Row(), TimestampMs(emitted));
}

runtime::StageResult CleanerStage::Process(runtime::Record record) {
  // The record's own time drives time windows (dedupe), so a replay decides as the first run.
  const std::int64_t ts = TimestampMs(record);
  stages::CleanResult result = cleaner_.Process(std::move(record.Row()), ts);
  if (!result.outcome.IsEmit()) return std::move(result.outcome);
  record.value = std::move(result.row);
  return runtime::EmitOne(std::move(record));
}

}  // namespace sluice::cleaner
