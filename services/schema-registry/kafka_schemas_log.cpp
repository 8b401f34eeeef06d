#include "kafka_schemas_log.hpp"

#include <librdkafka/rdkafka.h>

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
  consumer_config.Set("enable.partition.eof", "true");
  consumer_config.Set("isolation.level", "read_uncommitted");
  consumer_ = std::make_unique<kafka::Consumer>(consumer_config);
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(list, options_.topic.c_str(), 0)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_resp_err_t err = rd_kafka_assign(consumer_->Handle(), list);
  rd_kafka_topic_partition_list_destroy(list);
  if (err) throw kafka::KafkaError::FromCode("assign schemas topic", err, consumer_->Handle());

  kafka::Config producer_config = BaseConfig();
  producer_config.Set("enable.idempotence", "true");
  producer_config.Set("acks", "all");
  producer_config.Set("linger.ms", "0");
  producer_ = std::make_unique<kafka::Producer>(producer_config, [this](const kafka::DeliveryReport& r) {
    std::lock_guard lock(delivery_mu_);
    last_report_ = r;
  });
}

KafkaSchemasLog::~KafkaSchemasLog() {
  if (consumer_) {
    rd_kafka_assign(consumer_->Handle(), nullptr);
  }
}

std::int64_t KafkaSchemasLog::EndOffset() {
  std::int64_t low = 0;
  std::int64_t high = 0;
  rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
      consumer_->Handle(), options_.topic.c_str(), 0, &low, &high,
      static_cast<int>(options_.timeout.count()));
  if (err) throw kafka::KafkaError::FromCode("query schemas topic end offset", err, consumer_->Handle());
  return high;
}

std::vector<LogRecord> KafkaSchemasLog::Read(int timeout_ms) {
  std::lock_guard lock(read_mu_);
  std::vector<LogRecord> out;
  int wait = timeout_ms;
  while (out.size() < 1000) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_->Handle(), wait);
    if (!m) break;
    wait = 0;
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      // The fetcher reached the end: offsets below m->offset are read or compacted away, so
      // a tail of compacted offsets cannot leave the position short of the log end.
      if (m->offset > position_) position_ = m->offset;
      rd_kafka_message_destroy(m);
      break;
    }
    if (m->err) {
      std::string what = rd_kafka_message_errstr(m);
      rd_kafka_resp_err_t code = m->err;
      rd_kafka_message_destroy(m);
      if (code == RD_KAFKA_RESP_ERR__FATAL) {
        throw kafka::KafkaError::FromCode("read schemas topic", code, consumer_->Handle());
      }
      if (code == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || code == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC) {
        throw core::InfraError("schemas topic '" + options_.topic + "' is gone: " + what,
                               core::Retry::kNo);
      }
      break;  // transient consumer errors: librdkafka recovers by itself
    }
    LogRecord r;
    r.offset = m->offset;
    if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
    if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
    position_ = m->offset + 1;
    rd_kafka_message_destroy(m);
    out.push_back(std::move(r));
  }
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
