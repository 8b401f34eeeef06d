#include "kafka_json_source.hpp"

#include <utility>

#include "provenance.hpp"
#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::producer {
namespace {

std::string PartitionKey(std::int32_t p) { return "p" + std::to_string(p); }

}  // namespace

KafkaJsonSource::KafkaJsonSource(KafkaJsonSourceOptions options, obs::Logger log)
    : opt_(std::move(options)),
      log_(std::move(log)),
      mapper_(opt_.settings.fields, opt_.raw, stages::DlqCode::kJsonMessage) {}

KafkaJsonSource::~KafkaJsonSource() = default;

void KafkaJsonSource::Restore(const std::map<std::string, std::string>& committed) {
  committed_ = committed;
  pos_ = committed;
  reader_.reset();
  int partitions = 0;
  try {
    kafka::Admin admin{kafka::Config(opt_.librdkafka)};
    partitions = admin.PartitionCount(opt_.settings.topic, opt_.timeout);
  } catch (const kafka::KafkaError& e) {
    throw core::InfraError("source " + Name() + ": topic " + opt_.settings.topic + ": " + e.what(),
                           core::Retry::kYes);
  }
  std::vector<kafka::PartitionRange> ranges;
  for (int p = 0; p < partitions; ++p) {
    kafka::PartitionRange r;
    r.partition = {opt_.settings.topic, p};
    r.start = opt_.settings.from_beginning ? kafka::kOffsetBeginning : kafka::kOffsetEnd;
    if (const auto it = committed.find(PartitionKey(p)); it != committed.end()) {
      if (const auto next = stages::ParseInt64(it->second)) r.start = *next;
    }
    r.end = opt_.once ? kafka::kOffsetEnd : kafka::kNoEnd;
    ranges.push_back(r);
  }
  kafka::TopicReaderOptions ro;
  ro.timeout = opt_.timeout;
  // A broker away for a while: librdkafka retries; the loop's batches wait for it.
  ro.on_error = [this](const kafka::KafkaError& e) {
    log_.Warn("reading the source topic", {{"source", Name()}, {"error", e.what()}});
  };
  try {
    reader_.emplace(kafka::Config(opt_.librdkafka), std::move(ranges), std::move(ro));
  } catch (const kafka::KafkaError& e) {
    throw core::InfraError("source " + Name() + ": reading " + opt_.settings.topic + ": " + e.what(),
                           core::Retry::kYes);
  }
  log_.Info("reading", {{"source", Name()}, {"topic", opt_.settings.topic}, {"partitions", partitions},
                        {"positions", committed.size()}});
}

runtime::PollStatus KafkaJsonSource::Poll(runtime::SourceBatch& batch, std::size_t max) {
  if (!reader_) Restore(committed_);
  if (opt_.once && reader_->AtEnd()) return runtime::PollStatus::kFinished;
  const std::int64_t now_ms = NowMs();
  std::size_t n = 0;
  try {
    n = reader_->Read(
        [&](const kafka::Message& m) {
          const std::string where = m.topic + "/" + std::to_string(m.partition) + "@" + std::to_string(m.offset);
          std::optional<std::string> value;
          if (m.value) value = std::string(m.value->begin(), m.value->end());
          stages::HttpRecord rec = stages::ReadJsonMessage(mapper_, value, where);
          runtime::SourceItem item;
          runtime::Record& r = item.record;
          r.origin = runtime::Origin::Kafka(m.topic, m.partition, m.offset);
          r.source_time = runtime::SourceTime(std::chrono::milliseconds(now_ms));
          r.headers = {{runtime::kHeaderOrigin, r.origin.ToString()},
                       {runtime::kHeaderSourceTs, std::to_string(now_ms)},
                       {kHeaderSourceName, Name()}};
          if (rec.outcome.IsEmit()) {
            r.key = KeyOf(rec.row, opt_.key_fields);
            r.value = std::move(rec.row);
          } else {
            r.value = rec.original;
            item.outcome = std::move(rec.outcome);
          }
          r.original = std::move(rec.original);
          batch.items.push_back(std::move(item));
          pos_[PartitionKey(m.partition)] = std::to_string(m.offset + 1);
        },
        max, std::chrono::milliseconds(100));
  } catch (const kafka::KafkaError& e) {
    throw core::InfraError("source " + Name() + ": reading " + opt_.settings.topic + ": " + e.what(),
                           core::Retry::kYes);
  }
  if (n == 0) return opt_.once && reader_->AtEnd() ? runtime::PollStatus::kFinished : runtime::PollStatus::kIdle;
  for (const auto& [k, v] : pos_) {
    if (committed_.count(k) == 0 || committed_.at(k) != v) batch.positions[k] = v;
  }
  return runtime::PollStatus::kBatch;
}

void KafkaJsonSource::Committed() { committed_ = pos_; }

}  // namespace sluice::producer
