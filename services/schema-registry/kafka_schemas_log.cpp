#include "kafka_schemas_log.hpp"

#include <algorithm>
#include <random>

#include "sluice/core/error.hpp"
#include "sluice/kafka/error.hpp"

namespace sluice::schema_registry {
namespace {

std::string RandomSuffix() {
  std::random_device rd;
  std::uniform_int_distribution<std::uint64_t> dist;
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(dist(rd)));
  return buf;
}

}  // namespace

kafka::Config KafkaSchemasLog::BaseConfig() const {
  kafka::Config config;
  config.Set("bootstrap.servers", options_.brokers);
  for (const auto& [k, v] : options_.librdkafka) config.Set(k, v);
  return config;
}

KafkaSchemasLog::KafkaSchemasLog(KafkaLogOptions options) : options_(std::move(options)) {
  {
    kafka::Admin admin(BaseConfig());
    kafka::TopicSpec spec;
    spec.name = options_.topic;
    spec.partitions = 1;
    spec.replication = options_.replication;
    spec.configs = {{"cleanup.policy", "compact"}};
    try {
      admin.CreateTopics({spec}, options_.timeout);
    } catch (const kafka::KafkaError& e) {
      if (e.Kind() == kafka::ErrorKind::kPermanent) {
        throw core::ConfigError("schemas topic '" + options_.topic +
                                "' exists but is not a single-partition compacted topic: " + e.what());
      }
      throw;
    }
  }

  kafka::Config consumer_config = BaseConfig();
  // librdkafka needs a group.id for a consumer handle; this one never joins or commits (the
  // partition is assigned by hand), so a throwaway name keeps instances independent.
  if (!consumer_config.Has("group.id")) consumer_config.Set("group.id", "sluice-registry-" + RandomSuffix());
  consumer_config.Set("isolation.level", "read_uncommitted");
  kafka::TopicReaderOptions reader_options;
  reader_options.timeout = options_.timeout;
  // From the beginning, following the log as it grows (no end).
  reader_ = std::make_unique<kafka::TopicReader>(
      consumer_config,
      std::vector<kafka::PartitionRange>{{{options_.topic, 0}, kafka::kOffsetBeginning, kafka::kNoEnd}},
      std::move(reader_options));

  kafka::Config producer_config = BaseConfig();
  producer_config.Set("enable.idempotence", "true");
  producer_config.Set("acks", "all");
  producer_config.Set("linger.ms", "0");
  producer_ = std::make_unique<kafka::Producer>(producer_config, [this](const kafka::DeliveryReport& r) {
    std::lock_guard lock(delivery_mu_);
    last_report_ = r;
  });
}

KafkaSchemasLog::~KafkaSchemasLog() = default;

std::int64_t KafkaSchemasLog::EndOffset() {
  return reader_->QueryEnd({options_.topic, 0}, options_.timeout);
}

std::vector<LogRecord> KafkaSchemasLog::Read(int timeout_ms) {
  std::lock_guard lock(read_mu_);
  std::vector<LogRecord> out;
  try {
    reader_->Read(
        [&](const kafka::Message& m) {
          LogRecord r;
          r.offset = m.offset;
          r.key = m.key.value_or(std::string());
          r.value = m.value;
          out.push_back(std::move(r));
        },
        1000, std::chrono::milliseconds(timeout_ms));
  } catch (const kafka::KafkaError& e) {
    if (e.IsFatal()) throw;
    if (e.Code() == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || e.Code() == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
      throw core::InfraError("schemas topic '" + options_.topic + "' is gone: " + e.what(),
                             core::Retry::kNo);
    }
    // Transient consumer errors: librdkafka recovers by itself; the records before the error
    // are returned and the next Read goes on after them.
  }
  // Past the records read and, after end of partition, past offsets compacted away at the
  // log's tail, so the position cannot stay short of the log end.
  position_ = std::max(position_, reader_->Positions().front().offset);
  return out;
}

std::int64_t KafkaSchemasLog::Position() {
  std::lock_guard lock(read_mu_);
  return position_;
}

std::int64_t KafkaSchemasLog::Append(const std::string& key, const std::optional<std::string>& value) {
  std::lock_guard lock(append_mu_);
  {
    std::lock_guard dl(delivery_mu_);
    last_report_ = {};
  }
  kafka::Message message;
  message.topic = options_.topic;
  message.partition = 0;
  message.key = key;
  message.value = value;
  producer_->Produce(message, options_.timeout);
  producer_->Flush(options_.timeout);
  kafka::DeliveryReport report;
  {
    std::lock_guard dl(delivery_mu_);
    report = last_report_;
  }
  if (!report.Ok() || report.offset < 0) {
    throw core::InfraError("write to schemas topic '" + options_.topic + "' failed: " +
                               (report.error_message.empty() ? "no delivery report" : report.error_message),
                           core::Retry::kYes);
  }
  return report.offset;
}

}  // namespace sluice::schema_registry
