#pragma once
// The one way to build a dead-letter record (docs/architecture.md, "Errors"), used by every
// stage: the producer (malformed source rows), the cleaner and enricher (rejects, drops,
// undecodable bytes) and the sink (rows PostgreSQL refuses).
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
//
// A DLQ write never fails for size: every stage learns the DLQ topic's limit at start
// (DlqMessageLimit) and MakeDlqMessage cuts a record that would not fit. The cut copy keeps
// the four headers above and adds two:
//   sluice-dlq-truncated       what was cut: "value", "value,key" or "value,key,headers"
//   sluice-dlq-original-bytes  the size of the original value in bytes
// The original stays readable at its origin (topic/partition/offset, or file and line).
#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "sluice/kafka/config.hpp"
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

inline constexpr const char* kHeaderTruncated = "sluice-dlq-truncated";
inline constexpr const char* kHeaderOriginalBytes = "sluice-dlq-original-bytes";

// No limit: MakeDlqMessage cuts nothing.
inline constexpr std::size_t kNoDlqLimit = static_cast<std::size_t>(-1);
// Reasons longer than this are cut (a reason may quote the record's data).
inline constexpr std::size_t kMaxReasonBytes = 4096;

// The bytes a message takes on the wire inside a record batch of its own: an upper bound
// (record and batch framing, varints at their widest) that the broker's max.message.bytes
// check and librdkafka's message.max.bytes check both stay under.
std::size_t WireSize(const kafka::Message& message);

// The largest DLQ message a stage may produce, from the DLQ topic's max.message.bytes (as
// the broker reports it) and the producer's message.max.bytes (librdkafka's own limit,
// 1000000 unless the pipeline's librdkafka map sets it): the smaller of the two.
std::size_t DlqLimitOf(const std::map<std::string, std::string>& dlq_topic_configs,
                       const std::map<std::string, std::string>& producer_librdkafka);

// Asks the broker for the DLQ topic's configuration and returns DlqLimitOf. Throws
// kafka::KafkaError (retriable when the broker is unreachable), or core::ConfigError when the
// limit is under kMinDlqLimit (too small for a dead-letter record's headers).
inline constexpr std::size_t kMinDlqLimit = 16 * 1024;
std::size_t DlqMessageLimit(const std::map<std::string, std::string>& librdkafka,
                            const std::string& dlq_topic, std::chrono::milliseconds timeout);

// Caps the producer's batch.size at the DLQ limit when that is below librdkafka's default
// and the pipeline file does not set batch.size: librdkafka then never packs several DLQ
// records into one batch the DLQ topic would refuse.
void FitBatchesToDlq(kafka::Config& producer_config, std::size_t dlq_limit);

// The DLQ message for `record` on `dlq_topic`. Value: record.original when set, else the raw
// bytes when the record was never decoded, else empty (a null Kafka value). Key: record.key
// (null when empty). Timestamp: left to the producer (now); the source time travels in the
// sluice-source-ts header when the record had it. `extra` headers go after the DLQ headers.
// A message whose WireSize exceeds `max_bytes` is cut to fit (see the file comment): the
// value first, then the key, then the original headers; the DLQ headers always stay.
kafka::Message MakeDlqMessage(const std::string& dlq_topic, const Record& record,
                              const DlqReason& why, std::size_t max_bytes = kNoDlqLimit,
                              const kafka::Headers& extra = {});

// Cuts `message` to at most `max_bytes` on the wire as MakeDlqMessage does (a no-op when it
// fits). Returns false when even the DLQ headers alone do not fit (a limit under ~8 KiB).
bool TruncateToFit(kafka::Message& message, std::size_t max_bytes);

// The DLQ headers alone, appended to `headers` (for callers building messages themselves).
void AppendDlqHeaders(kafka::Headers& headers, const Record& record, const DlqReason& why);

// Headers converted between the stage view (runtime::Header) and Kafka's (null values kept
// as "" on the way in; every stage header has a value on the way out).
Headers FromKafkaHeaders(const kafka::Headers& headers);
Headers FromKafkaHeaders(kafka::Headers&& headers);  // moves the names and values
kafka::Headers ToKafkaHeaders(const Headers& headers);

}  // namespace sluice::runtime
