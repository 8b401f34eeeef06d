#pragma once
// The cleaner's rules engine: declarative rules from the pipeline file turn a raw row
// (nullable strings) into a typed row of the clean schema, or reject it with the rule's
// name and a reason, or drop it.
//
// Rule types (options in docs/pipeline-file.md, one file each in common/src/stages/rules/):
// required, coerce, range, regex, allowed, impute, dedupe, outlier, synthetic_date, late. Each
// rule has an action:
//   reject - the record goes to the DLQ naming the rule and the reason;
//   flag   - the record goes on, with the rule's name added to the flags field;
//   fix    - the value is repaired (set to a default, clamped, imputed) and the record goes on;
//   drop   - (dedupe only) the record is discarded and counted.
// Rules run in the order written; after the last rule every clean-schema field is converted
// to its Avro type (failures are rejected by the implicit rule "type", DlqCode::kType). A rule
// may not be named after a fixed DLQ word (IsReservedDlqWord).
//
// Running state (dedupe window, imputation and z-score statistics, late's watermark) lives in the Cleaner and
// is updated only by emitted records, in input order, so the output is a pure function of
// the input sequence. After a restart the state starts empty unless the wiring replays the
// tail of the clean topic through Warm(); the sink's upsert by key is what finally
// guarantees "each key once".
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/stages/component.hpp"
#include "sluice/stages/field_use.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::stages {

// The verdict (emit, drop or reject, with the deciding rule and reason) is the shared Outcome;
// the row and the flags are the cleaner's own.
struct CleanResult {
  Outcome outcome;                 // emit, drop (a dedupe rule), or reject
  Row row;                         // emit: the typed clean row, in clean-schema field order
  std::vector<std::string> flags;  // emit: names of the rules that flagged the record
};

struct CleanerSettings {
  // Clean-schema field receiving the flags as "rule1,rule2" (null when none). Empty: none.
  std::string flags_field = "flags";
};

namespace rules {
class Rule;
}

// The rule types (common/src/stages/rules/, one file each): their declarations, factories
// and examples.
const ComponentList<rules::Rule>& CleanerRules();

// One cleaner instance per consumer (not thread-safe); owns the running state.
class Cleaner {
 public:
  // `rules`: the YAML sequence (cleaner.rules); `origin` names it in errors, e.g.
  // "pipelines/loans/pipeline.yaml: cleaner.rules". Throws core::ConfigError.
  Cleaner(const YAML::Node& rules, RecordSpec output, const std::string& origin,
          CleanerSettings settings = {});
  ~Cleaner();
  Cleaner(Cleaner&&) noexcept;
  Cleaner& operator=(Cleaner&&) noexcept;

  // timestamp_ms: the record's timestamp (used by time windows only).
  CleanResult Process(Row input, std::int64_t timestamp_ms);
  // Feeds an already-clean row (e.g. re-read from the clean topic after a restart) into the
  // running state, as if it had just been emitted.
  void Warm(const Row& clean_row, std::int64_t timestamp_ms);

  std::vector<std::string> RuleNames() const;
  // The fields each rule names, one list per rule in order (checked by --check).
  std::vector<std::vector<FieldUse>> FieldUses() const;
  const RecordSpec& output() const { return output_; }

 private:
  std::vector<std::shared_ptr<rules::Rule>> rules_;
  RecordSpec output_;
  CleanerSettings settings_;
  std::vector<std::size_t> slots_;  // TypeInPlace's cell positions, reused across records
};

// The deterministic synthetic date of the synthetic_date rule: days since epoch in
// [first_day, last_day], from a stable hash of `seed_text`.
std::int64_t SyntheticDate(std::string_view seed_text, std::int64_t first_day, std::int64_t last_day);

}  // namespace sluice::stages
