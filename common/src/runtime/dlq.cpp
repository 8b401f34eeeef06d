#include "sluice/runtime/dlq.hpp"

#include <algorithm>
#include <charconv>

#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/config.hpp"

namespace sluice::runtime {
namespace {

// Kafka's broker default for max.message.bytes, and librdkafka's for message.max.bytes.
constexpr std::size_t kBrokerDefaultMaxMessageBytes = 1048588;
constexpr std::size_t kLibrdkafkaDefaultMessageMaxBytes = 1000000;
// Record batch header (61 bytes) and one record's fixed fields with every varint at its
// widest, rounded up: what WireSize adds to the key, value and headers.
constexpr std::size_t kBatchAndRecordOverhead = 61 + 64;
constexpr std::size_t kPerHeaderOverhead = 10;
// What a cut key keeps at most once the value is gone: enough to recognise it.
constexpr std::size_t kCutKeyBytes = 1024;

std::optional<std::size_t> ParseSize(const std::map<std::string, std::string>& m,
                                     const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) return std::nullopt;
  std::size_t v = 0;
  const char* end = it->second.data() + it->second.size();
  auto [ptr, ec] = std::from_chars(it->second.data(), end, v);
  if (ec != std::errc() || ptr != end || v == 0) return std::nullopt;
  return v;
}

bool IsDlqHeader(const std::string& name) {
  return name.rfind("sluice-dlq-", 0) == 0;
}

}  // namespace

std::size_t WireSize(const kafka::Message& message) {
  std::size_t n = kBatchAndRecordOverhead;
  if (message.key) n += message.key->size();
  if (message.value) n += message.value->size();
  for (const auto& h : message.headers) {
    n += kPerHeaderOverhead + h.name.size() + (h.value ? h.value->size() : 0);
  }
  return n;
}

std::size_t DlqLimitOf(const std::map<std::string, std::string>& dlq_topic_configs,
                       const std::map<std::string, std::string>& producer_librdkafka) {
  const std::size_t topic =
      ParseSize(dlq_topic_configs, "max.message.bytes").value_or(kBrokerDefaultMaxMessageBytes);
  const std::size_t client = ParseSize(producer_librdkafka, "message.max.bytes")
                                 .value_or(kLibrdkafkaDefaultMessageMaxBytes);
  return std::min(topic, client);
}

std::size_t DlqMessageLimit(const std::map<std::string, std::string>& librdkafka,
                            const std::string& dlq_topic, std::chrono::milliseconds timeout) {
  kafka::Config config;
  for (const auto& [k, v] : librdkafka) config.Set(k, v);
  kafka::Admin admin(config);
  const std::size_t limit = DlqLimitOf(admin.DescribeTopicConfigs(dlq_topic, timeout), librdkafka);
  if (limit < kMinDlqLimit) {
    throw core::ConfigError("DLQ topic '" + dlq_topic + "': a record may hold only " +
                            std::to_string(limit) +
                            " bytes (max.message.bytes / message.max.bytes); dead-letter "
                            "records need at least " + std::to_string(kMinDlqLimit));
  }
  return limit;
}

void FitBatchesToDlq(kafka::Config& producer_config, std::size_t dlq_limit) {
  if (producer_config.Has("batch.size") || dlq_limit >= kLibrdkafkaDefaultMessageMaxBytes) return;
  producer_config.Set("batch.size", std::to_string(dlq_limit));
}

bool TruncateToFit(kafka::Message& m, std::size_t max_bytes) {
  if (WireSize(m) <= max_bytes) return true;
  const std::size_t original = m.value ? m.value->size() : 0;
  // Appended first at their longest, so every size below already counts them.
  m.headers.push_back({kHeaderTruncated, std::string("value,key,headers")});
  m.headers.push_back({kHeaderOriginalBytes, std::to_string(original)});
  std::string cut = "value";
  auto fits = [&] { return WireSize(m) <= max_bytes; };
  if (m.value) {
    const std::size_t without = WireSize(m) - m.value->size();
    m.value->resize(without < max_bytes ? std::min(m.value->size(), max_bytes - without) : 0);
  }
  if (!fits() && m.key && m.key->size() > kCutKeyBytes) {
    m.key->resize(kCutKeyBytes);
    cut += ",key";
  }
  if (!fits()) {
    // Upstream headers go, oldest first; this stage's DLQ headers and its origin stay.
    const std::size_t last_origin = [&] {
      for (std::size_t i = m.headers.size(); i-- > 0;) {
        if (m.headers[i].name == kHeaderOrigin) return i;
      }
      return m.headers.size();
    }();
    kafka::Headers kept;
    std::size_t dropped_size = 0;
    const std::size_t excess = WireSize(m) - max_bytes;
    for (std::size_t i = 0; i < m.headers.size(); ++i) {
      const auto& h = m.headers[i];
      const bool keep = IsDlqHeader(h.name) || i == last_origin || dropped_size >= excess;
      if (keep) {
        kept.push_back(h);
      } else {
        dropped_size += kPerHeaderOverhead + h.name.size() + (h.value ? h.value->size() : 0);
      }
    }
    m.headers = std::move(kept);
    cut += ",headers";
  }
  for (auto& h : m.headers) {
    if (h.name == kHeaderTruncated) h.value = cut;
  }
  if (fits()) return true;
  if (m.key) m.key->resize(std::min(m.key->size(), std::size_t{64}));
  return fits();
}

Headers FromKafkaHeaders(const kafka::Headers& headers) {
  Headers out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back(Header{h.name, h.value.value_or(std::string())});
  return out;
}

Headers FromKafkaHeaders(kafka::Headers&& headers) {
  Headers out;
  out.reserve(headers.size());
  for (auto& h : headers) {
    out.push_back(Header{std::move(h.name), h.value ? std::move(*h.value) : std::string()});
  }
  return out;
}

kafka::Headers ToKafkaHeaders(const Headers& headers) {
  kafka::Headers out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back(kafka::Header{h.name, h.value});
  return out;
}

void AppendDlqHeaders(kafka::Headers& headers, const Record& record, const DlqReason& why) {
  headers.push_back(kafka::Header{kHeaderStage, why.stage});
  headers.push_back(kafka::Header{kHeaderRule, why.rule});
  headers.push_back(kafka::Header{kHeaderReason, why.reason.size() <= kMaxReasonBytes
                                                     ? why.reason
                                                     : why.reason.substr(0, kMaxReasonBytes)});
  if (record.origin.kind != Origin::Kind::kNone) {
    headers.push_back(kafka::Header{kHeaderOrigin, record.origin.ToString()});
  }
}

kafka::Message MakeDlqMessage(const std::string& dlq_topic, const Record& record,
                              const DlqReason& why, std::size_t max_bytes,
                              const kafka::Headers& extra) {
  kafka::Message m;
  m.topic = dlq_topic;
  if (!record.key.empty()) m.key = record.key;
  if (!record.original.empty()) {
    m.value = record.original;
  } else if (!record.IsDecoded() && !record.RawBytes().empty()) {
    m.value = record.RawBytes();
  }
  m.headers = ToKafkaHeaders(record.headers);
  AppendDlqHeaders(m.headers, record, why);
  m.headers.insert(m.headers.end(), extra.begin(), extra.end());
  // A limit so small that even the DLQ headers do not fit is refused at start-up
  // (DlqMessageLimit's callers), so this cannot fail for the limits stages run with.
  (void)TruncateToFit(m, max_bytes);
  return m;
}

}  // namespace sluice::runtime
