#pragma once
// Glue between librdkafka's C structures and our value types. Internal to the kafka module
// (public only so unit tests can check the conversions without a broker).
#include <librdkafka/rdkafka.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sluice/kafka/config.hpp"
#include "sluice/kafka/message.hpp"

namespace sluice::kafka::detail {

struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct HeadersDeleter {
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct QueueDeleter {
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
};
struct EventDeleter {
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using ConfPtr = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using HeadersPtr = std::unique_ptr<rd_kafka_headers_t, HeadersDeleter>;
using PartitionListPtr = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessagePtr = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using QueuePtr = std::unique_ptr<rd_kafka_queue_t, QueueDeleter>;
using EventPtr = std::unique_ptr<rd_kafka_event_t, EventDeleter>;

// A conf with every entry set, plus a log callback that forwards to spdlog.
// Throws core::ConfigError naming the key and librdkafka's message.
ConfPtr MakeConf(const Config& config);

// Creates the handle or throws core::ConfigError with librdkafka's reason.
rd_kafka_t* NewHandle(rd_kafka_type_t type, ConfPtr conf);

HeadersPtr ToRdHeaders(const Headers& headers);
Headers FromRdHeaders(const rd_kafka_headers_t* headers);

// Copies a consumed message (which must have err == NO_ERROR) into an owned Message.
Message FromRdMessage(const rd_kafka_message_t* m);
// The message's headers (copied) and timestamp (ms 0 when not available).
Headers HeadersOf(const rd_kafka_message_t* m);
Timestamp TimestampOf(const rd_kafka_message_t* m);

PartitionListPtr ToPartitionList(const std::vector<TopicPartition>& partitions);
PartitionListPtr ToPartitionList(const std::vector<TopicPartitionOffset>& offsets);
std::vector<TopicPartition> PartitionsOf(const rd_kafka_topic_partition_list_t* list);
std::vector<TopicPartitionOffset> OffsetsOf(const rd_kafka_topic_partition_list_t* list);

// Throws KafkaError for the first partition in `list` that carries an error.
void ThrowOnPartitionError(std::string_view operation, const rd_kafka_topic_partition_list_t* list);

int TimeoutMs(std::chrono::milliseconds timeout);

// One metadata round trip to any broker of `rk`: false when none answers within `timeout`.
bool BrokerReachable(rd_kafka_t* rk, std::chrono::milliseconds timeout);

}  // namespace sluice::kafka::detail
