#pragma once
// What a stage decided for one record: the ONE verdict type every stage returns (the cleaner,
// the enricher, the CSV source, the transform loop's stages, the source loop's items and the
// sink's judgement). Four kinds:
//   emit   - the record goes on (a row to the next topic, or to the sink's table);
//   skip   - not a record at all (a CSV file's header line): neither forwarded nor
//            dead-lettered, and not counted in "rows in";
//   drop   - a configured rule discarded the record; the runtime still dead-letters it under
//            the fixed word `drop`, reason "<rule>: <reason>", so it is accounted for;
//   reject - the record goes to the DLQ: under a fixed DlqCode word (too_large, type, csv, ...)
//            or under the name of the configured rule or step that refused it (DlqCode::kRule).
// The DLQ header values come from DlqRule() and DlqReason(), in one place, so every stage
// writes the same bytes for the same decision (docs/dlq-codes.md).
//
// Design: the verdict is shared, the payload is not. A stage's result struct holds an
// `Outcome outcome` next to what only that stage produces (the cleaner's typed row and flags,
// the enricher's row and fallbacks, the CSV source's row, key and positions, the transform
// loop's output records); a stage with no payload (the sink's judgement) returns an Outcome
// alone. The factories keep the invariants: a fixed code's rule is always Word(code), so no
// stage spells a DLQ word as a string literal, and a configured rule's name is never a fixed
// word (ReadComponentItems refuses such names for rules and steps, IsReservedDlqWord).
//
// A value type: copyable, comparable, no shared state.
#include <string>
#include <string_view>
#include <utility>

#include "sluice/stages/dlq_code.hpp"

namespace sluice::stages {

class Outcome {
 public:
  enum class Kind { kEmit, kSkip, kDrop, kReject };

  // Default: emit (a result struct starts as "the record goes on").
  Outcome() = default;

  static Outcome Emit() { return Outcome(); }
  static Outcome Skip();
  // A configured rule (or step) discarded the record.
  static Outcome Drop(std::string rule, std::string reason);
  // A reject under a fixed code. Precondition: code is neither kRule (use RuleReject) nor kDrop
  // (use Drop).
  static Outcome Reject(DlqCode code, std::string reason);
  // A reject by the configured rule or step named `rule` (DlqCode::kRule).
  static Outcome RuleReject(std::string rule, std::string reason);

  Kind kind() const { return kind_; }
  bool IsEmit() const { return kind_ == Kind::kEmit; }
  bool IsSkip() const { return kind_ == Kind::kSkip; }
  bool IsDrop() const { return kind_ == Kind::kDrop; }
  bool IsReject() const { return kind_ == Kind::kReject; }
  // Drops and rejects: the record goes to the DLQ.
  bool IsDeadLettered() const { return IsDrop() || IsReject(); }

  // Drop and reject only (empty otherwise).
  DlqCode code() const { return code_; }             // kDrop for a drop
  const std::string& rule() const { return rule_; }  // the deciding rule: a name or Word(code)
  const std::string& reason() const { return reason_; }

  // The sluice-dlq-rule and sluice-dlq-reason header values. Precondition: IsDeadLettered().
  std::string DlqRule() const;
  std::string DlqReason() const;

  bool operator==(const Outcome&) const = default;

 private:
  Outcome(Kind kind, DlqCode code, std::string rule, std::string reason)
      : kind_(kind), code_(code), rule_(std::move(rule)), reason_(std::move(reason)) {}

  Kind kind_ = Kind::kEmit;
  DlqCode code_ = DlqCode::kRule;  // meaningful for drop and reject only
  std::string rule_;
  std::string reason_;
};

// "emit", "skip", "drop", "reject" (test output, logs).
std::string_view KindName(Outcome::Kind kind);

}  // namespace sluice::stages
