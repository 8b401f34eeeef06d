#include "sluice/kafka/admin.hpp"

#include <spdlog/spdlog.h>

#include <thread>

#include "sluice/kafka/detail/rdkafka_glue.hpp"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

std::chrono::milliseconds Left(Clock::time_point deadline) {
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()));
}

struct AdminOptionsDeleter {
  void operator()(rd_kafka_AdminOptions_t* o) const { rd_kafka_AdminOptions_destroy(o); }
};
using AdminOptionsPtr = std::unique_ptr<rd_kafka_AdminOptions_t, AdminOptionsDeleter>;

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

AdminOptionsPtr Options(rd_kafka_t* rk, rd_kafka_admin_op_t op, std::chrono::milliseconds timeout,
                        bool operation_timeout) {
  AdminOptionsPtr opts(rd_kafka_AdminOptions_new(rk, op));
  char errstr[256];
  const int ms = detail::TimeoutMs(timeout);
  if (rd_kafka_AdminOptions_set_request_timeout(opts.get(), ms, errstr, sizeof(errstr))) {
    throw KafkaError(std::string("kafka: admin request timeout: ") + errstr,
                     RD_KAFKA_RESP_ERR__INVALID_ARG, ErrorKind::kPermanent);
  }
  // For create/delete: wait until the controller has applied the change, not just accepted it.
  if (operation_timeout &&
      rd_kafka_AdminOptions_set_operation_timeout(opts.get(), ms, errstr, sizeof(errstr))) {
    throw KafkaError(std::string("kafka: admin operation timeout: ") + errstr,
                     RD_KAFKA_RESP_ERR__INVALID_ARG, ErrorKind::kPermanent);
  }
  return opts;
}

// Waits for the admin result on `queue`; throws on timeout or a request-level error.
detail::EventPtr AwaitResult(rd_kafka_queue_t* queue, std::string_view operation,
                             std::chrono::milliseconds timeout) {
  // The request timeout is enforced by librdkafka; the extra second only covers delivery of
  // the result event itself.
  detail::EventPtr event(rd_kafka_queue_poll(queue, detail::TimeoutMs(timeout) + 1000));
  if (!event) {
    throw KafkaError::FromCode(std::string(operation) + " (no answer)",
                               RD_KAFKA_RESP_ERR__TIMED_OUT);
  }
  if (const rd_kafka_resp_err_t err = rd_kafka_event_error(event.get())) {
    throw KafkaError(std::string("kafka: ") + std::string(operation) +
                         " failed: " + rd_kafka_event_error_string(event.get()),
                     err, IsRetriableCode(err) ? ErrorKind::kRetriable : ErrorKind::kPermanent);
  }
  return event;
}

}  // namespace

struct Admin::Impl {
  rd_kafka_t* rk = nullptr;
  ~Impl() {
    if (rk != nullptr) rd_kafka_destroy(rk);
  }

  MetadataPtr AllTopics(std::chrono::milliseconds timeout) {
    // All topics, not one: asking a producer-type handle about a single missing topic may
    // auto-create it on brokers with auto.create.topics.enable=true.
    const rd_kafka_metadata_t* md = nullptr;
    if (const rd_kafka_resp_err_t err =
            rd_kafka_metadata(rk, 1, nullptr, &md, detail::TimeoutMs(timeout))) {
      throw KafkaError::FromCode("metadata", err, rk);
    }
    return MetadataPtr(md);
  }
};

Admin::Admin(const Config& config) : impl_(std::make_unique<Impl>()) {
  Config merged = config.WithDefaults(DefaultsFor(ClientRole::kAdmin));
  impl_->rk = detail::NewHandle(RD_KAFKA_PRODUCER, detail::MakeConf(merged));
}

Admin::~Admin() = default;
Admin::Admin(Admin&&) noexcept = default;
Admin& Admin::operator=(Admin&&) noexcept = default;

void Admin::CreateTopics(const std::vector<TopicSpec>& topics, std::chrono::milliseconds timeout) {
  if (topics.empty()) return;
  const auto deadline = Clock::now() + timeout;
  std::vector<rd_kafka_NewTopic_t*> new_topics;
  struct Cleanup {
    std::vector<rd_kafka_NewTopic_t*>& v;
    ~Cleanup() { rd_kafka_NewTopic_destroy_array(v.data(), v.size()); }
  } cleanup{new_topics};
  char errstr[512];
  for (const TopicSpec& spec : topics) {
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                                    spec.replication, errstr, sizeof(errstr));
    if (nt == nullptr) {
      throw KafkaError("kafka: topic '" + spec.name + "': " + errstr,
                       RD_KAFKA_RESP_ERR__INVALID_ARG, ErrorKind::kPermanent);
    }
    new_topics.push_back(nt);
    for (const auto& [key, value] : spec.configs) {
      if (const rd_kafka_resp_err_t err =
              rd_kafka_NewTopic_set_config(nt, key.c_str(), value.c_str())) {
        throw KafkaError::FromCode("topic '" + spec.name + "' config '" + key + "'", err);
      }
    }
  }
  detail::QueuePtr queue(rd_kafka_queue_new(impl_->rk));
  AdminOptionsPtr opts = Options(impl_->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout, true);
  rd_kafka_CreateTopics(impl_->rk, new_topics.data(), new_topics.size(), opts.get(), queue.get());
  detail::EventPtr event = AwaitResult(queue.get(), "create topics", timeout);
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_CreateTopics_result_topics(
      rd_kafka_event_CreateTopics_result(event.get()), &count);
  std::vector<const TopicSpec*> existing;
  for (size_t i = 0; i < count; ++i) {
    const std::string name = rd_kafka_topic_result_name(results[i]);
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      for (const TopicSpec& spec : topics) {
        if (spec.name == name) existing.push_back(&spec);
      }
      continue;
    }
    const char* reason = rd_kafka_topic_result_error_string(results[i]);
    throw KafkaError("kafka: create topic '" + name + "' failed: " +
                         (reason != nullptr ? reason : rd_kafka_err2str(err)) + " (" +
                         rd_kafka_err2name(err) + ")",
                     err, IsRetriableCode(err) ? ErrorKind::kRetriable : ErrorKind::kPermanent);
  }
  // An existing topic is only fine if it is the topic we asked for. "Already exists" may come
  // from another creator a moment ago (daemons starting together on fresh volumes), whose topic
  // this broker's metadata may not show yet: wait until it does, within the deadline, rather
  // than take "unknown topic" for an answer.
  for (const TopicSpec* spec : existing) {
    WaitForTopic(spec->name, Left(deadline));
    const TopicDescription d = DescribeTopic(spec->name, Left(deadline));
    std::string mismatch;
    if (d.partitions != spec->partitions) {
      mismatch = "has " + std::to_string(d.partitions) + " partitions, wanted " +
                 std::to_string(spec->partitions);
    } else if (d.replication != spec->replication) {
      mismatch = "has replication " + std::to_string(d.replication) + ", wanted " +
                 std::to_string(spec->replication);
    } else if (!spec->configs.empty()) {
      const auto actual = DescribeTopicConfigs(spec->name, Left(deadline));
      for (const auto& [key, value] : spec->configs) {
        auto it = actual.find(key);
        if (it == actual.end() || it->second != value) {
          mismatch = "has " + key + "=" + (it == actual.end() ? "<unset>" : it->second) +
                     ", wanted " + value;
          break;
        }
      }
    }
    if (!mismatch.empty()) {
      throw KafkaError("kafka: topic '" + spec->name + "' already exists but " + mismatch,
                       RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, ErrorKind::kPermanent);
    }
  }
  for (const TopicSpec& spec : topics) WaitForTopic(spec.name, Left(deadline));
}

void Admin::DeleteTopics(const std::vector<std::string>& names, std::chrono::milliseconds timeout) {
  if (names.empty()) return;
  std::vector<rd_kafka_DeleteTopic_t*> deletes;
  for (const auto& n : names) deletes.push_back(rd_kafka_DeleteTopic_new(n.c_str()));
  struct Cleanup {
    std::vector<rd_kafka_DeleteTopic_t*>& v;
    ~Cleanup() { rd_kafka_DeleteTopic_destroy_array(v.data(), v.size()); }
  } cleanup{deletes};
  detail::QueuePtr queue(rd_kafka_queue_new(impl_->rk));
  AdminOptionsPtr opts = Options(impl_->rk, RD_KAFKA_ADMIN_OP_DELETETOPICS, timeout, true);
  rd_kafka_DeleteTopics(impl_->rk, deletes.data(), deletes.size(), opts.get(), queue.get());
  detail::EventPtr event = AwaitResult(queue.get(), "delete topics", timeout);
  size_t count = 0;
  const rd_kafka_topic_result_t** results = rd_kafka_DeleteTopics_result_topics(
      rd_kafka_event_DeleteTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t err = rd_kafka_topic_result_error(results[i]);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART) {
      continue;
    }
    throw KafkaError::FromCode(
        std::string("delete topic '") + rd_kafka_topic_result_name(results[i]) + "'", err);
  }
}

TopicDescription Admin::DescribeTopic(const std::string& name, std::chrono::milliseconds timeout) {
  MetadataPtr md = impl_->AllTopics(timeout);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (name != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError::FromCode("describe topic '" + name + "'", t.err);
    }
    TopicDescription d;
    d.name = name;
    d.partitions = t.partition_cnt;
    d.replication = t.partition_cnt > 0 ? t.partitions[0].replica_cnt : 0;
    return d;
  }
  throw KafkaError::FromCode("describe topic '" + name + "'",
                             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

int Admin::PartitionCount(const std::string& name, std::chrono::milliseconds timeout) {
  return DescribeTopic(name, timeout).partitions;
}

std::map<std::string, std::string> Admin::DescribeTopicConfigs(const std::string& name,
                                                               std::chrono::milliseconds timeout) {
  rd_kafka_ConfigResource_t* resource =
      rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, name.c_str());
  struct Cleanup {
    rd_kafka_ConfigResource_t* r;
    ~Cleanup() { rd_kafka_ConfigResource_destroy(r); }
  } cleanup{resource};
  detail::QueuePtr queue(rd_kafka_queue_new(impl_->rk));
  AdminOptionsPtr opts = Options(impl_->rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout, false);
  rd_kafka_DescribeConfigs(impl_->rk, &resource, 1, opts.get(), queue.get());
  detail::EventPtr event = AwaitResult(queue.get(), "describe configs", timeout);
  size_t count = 0;
  const rd_kafka_ConfigResource_t** resources = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  std::map<std::string, std::string> out;
  for (size_t i = 0; i < count; ++i) {
    if (const rd_kafka_resp_err_t err = rd_kafka_ConfigResource_error(resources[i])) {
      throw KafkaError::FromCode("describe configs of '" + name + "'", err);
    }
    size_t entries = 0;
    const rd_kafka_ConfigEntry_t** configs =
        rd_kafka_ConfigResource_configs(resources[i], &entries);
    for (size_t j = 0; j < entries; ++j) {
      const char* value = rd_kafka_ConfigEntry_value(configs[j]);  // NULL when sensitive
      out[rd_kafka_ConfigEntry_name(configs[j])] = value != nullptr ? value : "";
    }
  }
  return out;
}

std::vector<std::string> Admin::ListTopics(std::chrono::milliseconds timeout,
                                          bool include_internal) {
  MetadataPtr md = impl_->AllTopics(timeout);
  std::vector<std::string> out;
  for (int i = 0; i < md->topic_cnt; ++i) {
    const std::string name = md->topics[i].topic;
    if (!include_internal && name.rfind("__", 0) == 0) continue;
    out.push_back(name);
  }
  return out;
}

void Admin::WaitForTopic(const std::string& name, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  std::string last = "not in metadata";
  for (;;) {
    MetadataPtr md = impl_->AllTopics(std::max(Left(deadline), std::chrono::milliseconds(1000)));
    for (int i = 0; i < md->topic_cnt; ++i) {
      const rd_kafka_metadata_topic_t& t = md->topics[i];
      if (name != t.topic) continue;
      if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        last = rd_kafka_err2str(t.err);
        break;
      }
      bool ready = t.partition_cnt > 0;
      for (int p = 0; p < t.partition_cnt; ++p) {
        if (t.partitions[p].leader < 0 || t.partitions[p].err != RD_KAFKA_RESP_ERR_NO_ERROR) {
          ready = false;
          last = "partition " + std::to_string(p) + " has no leader";
        }
      }
      if (ready) return;
      break;
    }
    if (Clock::now() >= deadline) {
      throw KafkaError("kafka: topic '" + name + "' not ready in time: " + last,
                       RD_KAFKA_RESP_ERR__TIMED_OUT, ErrorKind::kRetriable);
    }
    // Metadata propagation is asynchronous; there is no event to wait on.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

rd_kafka_t* Admin::Handle() const { return impl_->rk; }

}  // namespace sluice::kafka
