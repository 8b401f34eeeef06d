#include "sluice/kafka/detail/rdkafka_glue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <map>

#include "sluice/core/error.hpp"
#include "sluice/kafka/error.hpp"

namespace sluice::kafka {

const Header* FindLastHeader(const Headers& headers, std::string_view name) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name == name) return &*it;
  }
  return nullptr;
}

std::vector<TopicPartitionOffset> NextOffsets(const std::vector<Message>& messages) {
  std::map<TopicPartition, std::int64_t> next;
  for (const Message& m : messages) {
    auto [it, inserted] = next.emplace(TopicPartition{m.topic, m.partition}, m.offset + 1);
    if (!inserted) it->second = std::max(it->second, m.offset + 1);
  }
  std::vector<TopicPartitionOffset> out;
  out.reserve(next.size());
  for (const auto& [tp, offset] : next) out.push_back({tp.topic, tp.partition, offset});
  return out;
}

namespace detail {
namespace {

// librdkafka logs with syslog levels from its own threads; spdlog is thread-safe.
void LogToSpdlog(const rd_kafka_t* rk, int level, const char* facility, const char* text) {
  const spdlog::level::level_enum mapped = level <= 3   ? spdlog::level::err
                                           : level == 4 ? spdlog::level::warn
                                           : level <= 6 ? spdlog::level::info
                                                        : spdlog::level::debug;
  spdlog::log(mapped, "librdkafka {} {}: {}", rk != nullptr ? rd_kafka_name(rk) : "-", facility,
              text);
}

}  // namespace

ConfPtr MakeConf(const Config& config) {
  ConfPtr conf(rd_kafka_conf_new());
  char errstr[512];
  for (const auto& [key, value] : config.Entries()) {
    errstr[0] = '\0';
    if (rd_kafka_conf_set(conf.get(), key.c_str(), value.c_str(), errstr, sizeof(errstr)) !=
        RD_KAFKA_CONF_OK) {
      throw core::ConfigError("librdkafka property '" + key + "' = '" + value +
                              "' rejected: " + errstr);
    }
  }
  rd_kafka_conf_set_log_cb(conf.get(), &LogToSpdlog);
  return conf;
}

rd_kafka_t* NewHandle(rd_kafka_type_t type, ConfPtr conf) {
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    // On failure the conf is still ours (and destroyed by ConfPtr).
    throw core::ConfigError(std::string("librdkafka rejected the configuration: ") + errstr);
  }
  (void)conf.release();  // rd_kafka_new took ownership
  return rk;
}

HeadersPtr ToRdHeaders(const Headers& headers) {
  HeadersPtr out(rd_kafka_headers_new(headers.size()));
  for (const Header& h : headers) {
    const void* value = h.value ? static_cast<const void*>(h.value->data()) : nullptr;
    const ssize_t size = h.value ? static_cast<ssize_t>(h.value->size()) : 0;
    rd_kafka_header_add(out.get(), h.name.data(), static_cast<ssize_t>(h.name.size()), value,
                        size);
  }
  return out;
}

Headers FromRdHeaders(const rd_kafka_headers_t* headers) {
  Headers out;
  if (headers == nullptr) return out;
  out.reserve(rd_kafka_header_cnt(headers));
  const char* name = nullptr;
  const void* value = nullptr;
  size_t size = 0;
  for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                     RD_KAFKA_RESP_ERR_NO_ERROR;
       ++i) {
    Header h{name, std::nullopt};
    if (value != nullptr) h.value.emplace(static_cast<const char*>(value), size);
    out.push_back(std::move(h));
  }
  return out;
}

Headers HeadersOf(const rd_kafka_message_t* m) {
  rd_kafka_headers_t* headers = nullptr;
  // The message keeps ownership of its headers; we only read them.
  if (rd_kafka_message_headers(m, &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) return {};
  return FromRdHeaders(headers);
}

Timestamp TimestampOf(const rd_kafka_message_t* m) {
  rd_kafka_timestamp_type_t type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
  Timestamp t;
  t.ms = rd_kafka_message_timestamp(m, &type);
  t.type = type == RD_KAFKA_TIMESTAMP_CREATE_TIME        ? TimestampType::kCreateTime
           : type == RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME ? TimestampType::kLogAppendTime
                                                        : TimestampType::kNotAvailable;
  if (t.type == TimestampType::kNotAvailable) t.ms = 0;
  return t;
}

Message FromRdMessage(const rd_kafka_message_t* m) {
  Message out;
  out.topic = rd_kafka_topic_name(m->rkt);
  out.partition = m->partition;
  out.offset = m->offset;
  if (m->key != nullptr) out.key.emplace(static_cast<const char*>(m->key), m->key_len);
  if (m->payload != nullptr) out.value.emplace(static_cast<const char*>(m->payload), m->len);
  out.headers = HeadersOf(m);
  out.timestamp = TimestampOf(m);
  return out;
}

PartitionListPtr ToPartitionList(const std::vector<TopicPartition>& partitions) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(partitions.size())));
  for (const auto& p : partitions) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition);
  }
  return list;
}

PartitionListPtr ToPartitionList(const std::vector<TopicPartitionOffset>& offsets) {
  PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const auto& o : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), o.topic.c_str(), o.partition)->offset = o.offset;
  }
  return list;
}

std::vector<TopicPartition> PartitionsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition});
  }
  return out;
}

std::vector<TopicPartitionOffset> OffsetsOf(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartitionOffset> out;
  if (list == nullptr) return out;
  out.reserve(static_cast<size_t>(list->cnt));
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

void ThrowOnPartitionError(std::string_view operation,
                           const rd_kafka_topic_partition_list_t* list) {
  for (int i = 0; list != nullptr && i < list->cnt; ++i) {
    const auto& e = list->elems[i];
    if (e.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string what(operation);
      what += " ";
      what += e.topic;
      what += "[" + std::to_string(e.partition) + "]";
      throw KafkaError::FromCode(what, e.err);
    }
  }
}

int TimeoutMs(std::chrono::milliseconds timeout) {
  if (timeout.count() < 0) return -1;
  if (timeout.count() > INT_MAX) return INT_MAX;
  return static_cast<int>(timeout.count());
}

bool BrokerReachable(rd_kafka_t* rk, std::chrono::milliseconds timeout) {
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, nullptr, &md, TimeoutMs(timeout));
  if (md != nullptr) rd_kafka_metadata_destroy(md);
  return err == RD_KAFKA_RESP_ERR_NO_ERROR;
}

}  // namespace detail
}  // namespace sluice::kafka
