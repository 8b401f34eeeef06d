#pragma once
// The one way to build a dead-letter record (DESIGN.md, Errors), used by every stage: the
// producer (malformed source rows), the cleaner and enricher (rejects, drops, undecodable
// bytes) and the sink (rows PostgreSQL refuses).
//
// A DLQ record carries the ORIGINAL bytes and key exactly as the stage received them, the
// original headers in their order, then four appended headers:
//   sluice-dlq-stage   the stage that gave up on it ("cleaner")
//   sluice-dlq-rule    the rule that decided ("duplicate", "undecodable", "drop", ...)
//   sluice-dlq-reason  a human reason ("loan_id 'LC-1f' seen 3s ago")
//   sluice-origin      where this stage read it: "loans.raw/3@1042" or "data/loans.csv:17"
// Headers are appended, never replaced: Kafka headers may repeat and the last one is "the"
// value (kafka::FindLastHeader), so an upstream sluice-origin (the source file and line that
// the producer wrote) stays visible before this stage's own.
#include <string>
#include <string_view>

#include "sluice/kafka/message.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::runtime {

// Why a record goes to the DLQ. `rule` names the deciding rule (or a fixed word for the
// runtime's own reasons: "undecodable", "unencodable", "drop"); `reason` is the text.
struct DlqReason {
  std::string stage;
  std::string rule;
  std::string reason;
};

// Reason rule names used by the runtime itself.
inline constexpr const char* kRuleUndecodable = "undecodable";
inline constexpr const char* kRuleUnencodable = "unencodable";
inline constexpr const char* kRuleDrop = "drop";

// The DLQ message for `record` on `dlq_topic`. Value: record.original when set, else the raw
// bytes when the record was never decoded, else empty (a null Kafka value). Key: record.key
// (null when empty). Timestamp: left to the producer (now); the source time travels in the
// sluice-source-ts header when the record had it.
kafka::Message MakeDlqMessage(const std::string& dlq_topic, const Record& record,
                              const DlqReason& why);

// The DLQ headers alone, appended to `headers` (for callers building messages themselves).
void AppendDlqHeaders(kafka::Headers& headers, const Record& record, const DlqReason& why);

// Headers converted between the stage view (runtime::Header) and Kafka's (null values kept
// as "" on the way in; every stage header has a value on the way out).
Headers FromKafkaHeaders(const kafka::Headers& headers);
kafka::Headers ToKafkaHeaders(const Headers& headers);

}  // namespace sluice::runtime
