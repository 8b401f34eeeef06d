#pragma once
// RAII Kafka admin client: topics and their configs.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/kafka/config.hpp"
#include "sluice/kafka/error.hpp"

namespace sluice::kafka {

struct TopicSpec {
  std::string name;
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> configs;  // e.g. {"cleanup.policy", "compact"}
};

struct TopicDescription {
  std::string name;
  int partitions = 0;
  int replication = 0;  // replicas of partition 0
};

// Owns one rd_kafka_t used only for admin requests and metadata.
// Lifecycle: construct → requests → destroy. Every call blocks until the broker answers or
// the timeout passes (then throws a retriable KafkaError).
// Threading: calls may come from several threads; each uses its own result queue.
class Admin {
 public:
  explicit Admin(const Config& config);
  ~Admin();
  Admin(Admin&&) noexcept;
  Admin& operator=(Admin&&) noexcept;
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // Creates the topics. A topic that already exists is fine when its partition count,
  // replication and the given configs match; otherwise KafkaError{kPermanent} names the
  // difference. Waits until every topic is visible in metadata.
  void CreateTopics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout);
  // Deletes the topics; a topic that does not exist is fine.
  void DeleteTopics(const std::vector<std::string>& names, std::chrono::milliseconds timeout);
  // Throws KafkaError{kPermanent, UNKNOWN_TOPIC_OR_PART} when the topic does not exist.
  TopicDescription DescribeTopic(const std::string& name, std::chrono::milliseconds timeout);
  int PartitionCount(const std::string& name, std::chrono::milliseconds timeout);
  // Every topic config the broker reports (defaults included), as name → value.
  std::map<std::string, std::string> DescribeTopicConfigs(const std::string& name,
                                                          std::chrono::milliseconds timeout);
  std::vector<std::string> ListTopics(std::chrono::milliseconds timeout,
                                      bool include_internal = false);
  // Waits until the topic exists and every partition has a leader.
  void WaitForTopic(const std::string& name, std::chrono::milliseconds timeout);

  rd_kafka_t* Handle() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::kafka
