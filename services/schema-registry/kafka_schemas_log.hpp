#pragma once
// The `_schemas` log on a real Kafka topic: one partition, cleanup.policy=compact, read from
// the beginning by a kafka::TopicReader that follows it (manual assignment, no group join, no
// offsets committed, no end) and appended to by an idempotent producer that waits for each
// record's offset.
// Lifecycle: construct (creates or checks the topic; throws ConfigError when an existing topic
// is not single-partition and compacted), then Read/Append. Threading: see SchemasLog.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "schemas_log.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/kafka/topic_reader.hpp"

namespace sluice::schema_registry {

struct KafkaLogOptions {
  std::string brokers;
  std::string topic = "_schemas";
  int replication = 1;
  std::chrono::milliseconds timeout{10'000};
  // Extra librdkafka properties for all three clients (passed through untouched).
  std::map<std::string, std::string> librdkafka;
};

class KafkaSchemasLog : public SchemasLog {
 public:
  explicit KafkaSchemasLog(KafkaLogOptions options);
  ~KafkaSchemasLog() override;

  std::int64_t EndOffset() override;
  std::vector<LogRecord> Read(int timeout_ms) override;
  std::int64_t Position() override;
  std::int64_t Append(const std::string& key, const std::optional<std::string>& value) override;

 private:
  kafka::Config BaseConfig() const;

  KafkaLogOptions options_;
  std::unique_ptr<kafka::TopicReader> reader_;
  std::unique_ptr<kafka::Producer> producer_;
  std::mutex append_mu_;
  std::mutex delivery_mu_;
  kafka::DeliveryReport last_report_;
  std::mutex read_mu_;
  std::int64_t position_ = 0;
};

}  // namespace sluice::schema_registry
