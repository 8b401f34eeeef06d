#include "sluice/stages/outcome.hpp"

#include <utility>

#include "sluice/core/error.hpp"

namespace sluice::stages {

Outcome Outcome::Skip() { return Outcome(Kind::kSkip, DlqCode::kRule, "", ""); }

Outcome Outcome::Drop(std::string rule, std::string reason) {
  return Outcome(Kind::kDrop, DlqCode::kDrop, std::move(rule), std::move(reason));
}

Outcome Outcome::Reject(DlqCode code, std::string reason) {
  SLUICE_ASSERT(code != DlqCode::kRule, "a configured rule's reject is Outcome::RuleReject");
  SLUICE_ASSERT(code != DlqCode::kDrop, "a drop is Outcome::Drop");
  return Outcome(Kind::kReject, code, Word(code), std::move(reason));
}

Outcome Outcome::RuleReject(std::string rule, std::string reason) {
  return Outcome(Kind::kReject, DlqCode::kRule, std::move(rule), std::move(reason));
}

std::string Outcome::DlqRule() const {
  SLUICE_ASSERT(IsDeadLettered(), "only drops and rejects go to the DLQ");
  return IsDrop() ? Word(DlqCode::kDrop) : rule_;
}

std::string Outcome::DlqReason() const {
  SLUICE_ASSERT(IsDeadLettered(), "only drops and rejects go to the DLQ");
  // A drop's header names the fixed word; the rule that dropped is kept in the reason.
  return IsDrop() ? rule_ + ": " + reason_ : reason_;
}

std::string_view KindName(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::kEmit:
      return "emit";
    case Outcome::Kind::kSkip:
      return "skip";
    case Outcome::Kind::kDrop:
      return "drop";
    case Outcome::Kind::kReject:
      return "reject";
  }
  return "?";
}

}  // namespace sluice::stages
