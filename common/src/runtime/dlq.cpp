#include "sluice/runtime/dlq.hpp"

namespace sluice::runtime {

Headers FromKafkaHeaders(const kafka::Headers& headers) {
  Headers out;
  out.reserve(headers.size());
  for (const auto& h : headers) out.push_back(Header{h.name, h.value.value_or(std::string())});
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
  headers.push_back(kafka::Header{kHeaderReason, why.reason});
  if (record.origin.kind != Origin::Kind::kNone) {
    headers.push_back(kafka::Header{kHeaderOrigin, record.origin.ToString()});
  }
}

kafka::Message MakeDlqMessage(const std::string& dlq_topic, const Record& record,
                              const DlqReason& why) {
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
  return m;
}

}  // namespace sluice::runtime
