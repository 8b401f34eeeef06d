#include "sluice/kafka/consumer.hpp"

#include <spdlog/spdlog.h>

#include <cstring>
#include <exception>
#include <stdexcept>

#include "sluice/core/error.hpp"
#include "sluice/kafka/detail/rdkafka_glue.hpp"

namespace sluice::kafka {

GroupMetadata::~GroupMetadata() {
  if (raw_ != nullptr) rd_kafka_consumer_group_metadata_destroy(raw_);
}

GroupMetadata& GroupMetadata::operator=(GroupMetadata&& other) noexcept {
  if (this != &other) {
    if (raw_ != nullptr) rd_kafka_consumer_group_metadata_destroy(raw_);
    raw_ = std::exchange(other.raw_, nullptr);
  }
  return *this;
}

struct Consumer::Impl {
  rd_kafka_t* rk = nullptr;
  RebalanceListener* listener = nullptr;  // only touched on the polling thread
  std::exception_ptr rebalance_error;     // set in the callback, rethrown by Poll
  bool closed = false;
  bool reset_to_end = false;  // auto.offset.reset is latest/largest/end

  ~Impl() {
    if (rk == nullptr) return;
    if (!closed) {
      try {
        Close();
      } catch (const std::exception& e) {
        spdlog::warn("kafka consumer {}: close failed: {}", rd_kafka_name(rk), e.what());
      }
    }
    rd_kafka_destroy(rk);
  }

  void Close() {
    if (closed) return;
    closed = true;
    char fatal[64];
    if (rd_kafka_fatal_error(rk, fatal, sizeof(fatal)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      // The instance is dead (e.g. fenced: another process owns its partitions now), so the
      // listener must not finish or commit work for them; this also spares an owner that is
      // being destroyed around its consumer.
      listener = nullptr;
    }
    // Runs the revoke callback, leaves the group; only then may the handle be destroyed.
    const rd_kafka_resp_err_t err = rd_kafka_consumer_close(rk);
    // After a fatal error (e.g. fenced) close still tears the consumer down but reports that
    // error again; Poll has already thrown it, once.
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR && err != RD_KAFKA_RESP_ERR__FATAL) {
      throw KafkaError::FromCode("consumer close", err, rk);
    }
    RethrowRebalanceError();
  }

  void RethrowRebalanceError() {
    if (rebalance_error) std::rethrow_exception(std::exchange(rebalance_error, nullptr));
  }

  bool Cooperative() const {
    return std::strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
  }

  // Called from inside rd_kafka_consumer_poll/close on the polling thread. Never throws.
  static void OnRebalance(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                          rd_kafka_topic_partition_list_t* partitions, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      self->Assign(partitions);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      self->Revoke(partitions);
    } else {
      spdlog::error("kafka consumer {}: rebalance error {}", rd_kafka_name(rk),
                    rd_kafka_err2str(err));
      self->Unassign(partitions);
    }
  }

  void Assign(rd_kafka_topic_partition_list_t* partitions) {
    std::vector<TopicPartitionOffset> offsets = detail::OffsetsOf(partitions);
    for (auto& o : offsets) {
      if (o.offset == kOffsetInvalid) o.offset = kOffsetStored;
    }
    if (listener != nullptr) {
      try {
        const std::vector<TopicPartitionOffset> before = offsets;
        listener->OnAssigned(offsets);
        if (offsets.size() != before.size()) {
          throw std::logic_error("RebalanceListener::OnAssigned changed the partition list");
        }
        for (size_t i = 0; i < offsets.size(); ++i) {
          if (offsets[i].topic != before[i].topic || offsets[i].partition != before[i].partition) {
            throw std::logic_error("RebalanceListener::OnAssigned changed the partition list");
          }
        }
      } catch (...) {
        // Leave the partitions unassigned: reading them from the wrong position is worse.
        spdlog::error("kafka consumer {}: assignment listener failed; partitions not assigned",
                      rd_kafka_name(rk));
        rebalance_error = std::current_exception();
        return;
      }
    }
    for (int i = 0; i < partitions->cnt; ++i) {
      partitions->elems[i].offset = offsets[static_cast<size_t>(i)].offset;
    }
    if (Cooperative()) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_assign(rk, partitions)) {
        rebalance_error =
            std::make_exception_ptr(KafkaError::FromError("incremental_assign", error));
      }
    } else if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk, partitions)) {
      rebalance_error = std::make_exception_ptr(KafkaError::FromCode("assign", e, rk));
    }
  }

  void Revoke(rd_kafka_topic_partition_list_t* partitions) {
    if (listener != nullptr) {
      const std::vector<TopicPartition> revoked = detail::PartitionsOf(partitions);
      try {
        if (rd_kafka_assignment_lost(rk)) {
          listener->OnLost(revoked);
        } else {
          listener->OnRevoked(revoked);
        }
      } catch (...) {
        spdlog::error("kafka consumer {}: revoke listener failed", rd_kafka_name(rk));
        rebalance_error = std::current_exception();
      }
    }
    Unassign(partitions);
  }

  void Unassign(rd_kafka_topic_partition_list_t* partitions) {
    if (Cooperative()) {
      if (rd_kafka_error_t* error = rd_kafka_incremental_unassign(rk, partitions)) {
        KafkaError e = KafkaError::FromError("incremental_unassign", error);
        spdlog::error("{}", e.what());
      }
    } else if (const rd_kafka_resp_err_t e = rd_kafka_assign(rk, nullptr)) {
      spdlog::error("kafka consumer {}: unassign failed: {}", rd_kafka_name(rk),
                    rd_kafka_err2str(e));
    }
  }

  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512] = {0};
      const rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
      spdlog::critical("kafka consumer {} fatal error {}: {}", rd_kafka_name(rk),
                       rd_kafka_err2name(original), fatal);
      return;
    }
    spdlog::warn("kafka consumer {}: {} ({})", rd_kafka_name(rk), reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }
};

Consumer::Consumer(const Config& config) : impl_(std::make_unique<Impl>()) {
  const Config merged = config.WithDefaults(DefaultsFor(ClientRole::kConsumer));
  if (!merged.Has("group.id")) {
    throw core::ConfigError("kafka consumer needs librdkafka property 'group.id'");
  }
  const std::string reset = merged.Get("auto.offset.reset").value_or("");
  impl_->reset_to_end = reset == "latest" || reset == "largest" || reset == "end";
  detail::ConfPtr conf = detail::MakeConf(merged);
  rd_kafka_conf_set_rebalance_cb(conf.get(), &Impl::OnRebalance);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  impl_->rk = detail::NewHandle(RD_KAFKA_CONSUMER, std::move(conf));
  // One queue for everything, so Poll serves rebalances, errors and records in order.
  rd_kafka_poll_set_consumer(impl_->rk);
}

Consumer::~Consumer() = default;
Consumer::Consumer(Consumer&&) noexcept = default;
Consumer& Consumer::operator=(Consumer&&) noexcept = default;

void Consumer::Subscribe(const std::vector<std::string>& topics, RebalanceListener* listener) {
  impl_->listener = listener;
  detail::PartitionListPtr list(rd_kafka_topic_partition_list_new(static_cast<int>(topics.size())));
  for (const auto& t : topics) {
    rd_kafka_topic_partition_list_add(list.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
  }
  if (const rd_kafka_resp_err_t err = rd_kafka_subscribe(impl_->rk, list.get())) {
    throw KafkaError::FromCode("subscribe", err, impl_->rk);
  }
}

void Consumer::Unsubscribe() {
  if (const rd_kafka_resp_err_t err = rd_kafka_unsubscribe(impl_->rk)) {
    throw KafkaError::FromCode("unsubscribe", err, impl_->rk);
  }
}

void Consumer::Assign(const std::vector<TopicPartitionOffset>& partitions) {
  detail::PartitionListPtr list = detail::ToPartitionList(partitions);
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(impl_->rk, list.get())) {
    throw KafkaError::FromCode("assign", err, impl_->rk);
  }
}

void Consumer::Unassign() {
  if (const rd_kafka_resp_err_t err = rd_kafka_assign(impl_->rk, nullptr)) {
    throw KafkaError::FromCode("unassign", err, impl_->rk);
  }
}

std::string_view ReceivedMessage::topic() const { return rd_kafka_topic_name(m_->rkt); }

std::optional<std::string_view> ReceivedMessage::key() const {
  if (m_->key == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m_->key), m_->key_len);
}

std::optional<std::string_view> ReceivedMessage::value() const {
  if (m_->payload == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(m_->payload), m_->len);
}

std::optional<std::string_view> ReceivedMessage::LastHeader(const char* name) const {
  rd_kafka_headers_t* headers = nullptr;
  if (rd_kafka_message_headers(m_.get(), &headers) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  const void* value = nullptr;
  std::size_t size = 0;
  if (rd_kafka_header_get_last(headers, name, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR ||
      value == nullptr) {
    return std::nullopt;
  }
  return std::string_view(static_cast<const char*>(value), size);
}

Headers ReceivedMessage::headers() const { return detail::HeadersOf(m_.get()); }

Timestamp ReceivedMessage::timestamp() const { return detail::TimestampOf(m_.get()); }

Message ReceivedMessage::ToMessage() const { return detail::FromRdMessage(m_.get()); }

namespace {

// A message, or nullptr for nothing in time / an error librdkafka recovers from by itself.
detail::MessagePtr Received(rd_kafka_t* rk, detail::MessagePtr m) {
  if (!m || m->err == RD_KAFKA_RESP_ERR_NO_ERROR) return m;
  if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) return nullptr;
  if (m->err == RD_KAFKA_RESP_ERR__FATAL) throw KafkaError::FromCode("consume", m->err, rk);
  // librdkafka recovers from these by itself (see INTRODUCTION.md, "Consumer errors").
  spdlog::warn("kafka consumer {}: {}{}: {}", rd_kafka_name(rk),
               m->rkt != nullptr ? rd_kafka_topic_name(m->rkt) : "",
               m->rkt != nullptr ? "[" + std::to_string(m->partition) + "]" : std::string(),
               rd_kafka_message_errstr(m.get()));
  return nullptr;
}

}  // namespace

std::optional<Message> Consumer::Poll(std::chrono::milliseconds timeout) {
  detail::MessagePtr m(rd_kafka_consumer_poll(impl_->rk, detail::TimeoutMs(timeout)));
  impl_->RethrowRebalanceError();
  m = Received(impl_->rk, std::move(m));
  if (!m) return std::nullopt;
  return detail::FromRdMessage(m.get());
}

std::vector<ReceivedMessage> Consumer::PollReceived(std::size_t max,
                                                    std::chrono::milliseconds timeout) {
  std::vector<ReceivedMessage> out;
  out.reserve(std::min<std::size_t>(max, 10'000));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int wait_ms = 0;  // what is already queued is taken without reading the clock per record
  while (out.size() < max) {
    detail::MessagePtr m(rd_kafka_consumer_poll(impl_->rk, wait_ms));
    impl_->RethrowRebalanceError();
    if ((m = Received(impl_->rk, std::move(m)))) {
      out.emplace_back(std::move(m));
      wait_ms = 0;
      continue;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    wait_ms = detail::TimeoutMs(left);
  }
  return out;
}

std::vector<Message> Consumer::PollBatch(std::size_t max, std::chrono::milliseconds timeout) {
  std::vector<Message> out;
  for (const ReceivedMessage& m : PollReceived(max, timeout)) out.push_back(m.ToMessage());
  return out;
}

void Consumer::StoreOffset(const Message& message) { StoreOffsets({message.NextOffset()}); }

void Consumer::StoreOffsets(const std::vector<TopicPartitionOffset>& offsets) {
  detail::PartitionListPtr list = detail::ToPartitionList(offsets);
  const rd_kafka_resp_err_t err = rd_kafka_offsets_store(impl_->rk, list.get());
  detail::ThrowOnPartitionError("store offset", list.get());
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError::FromCode("store offsets", err, impl_->rk);
  }
}

void Consumer::Commit(const std::vector<TopicPartitionOffset>& offsets, bool sync) {
  detail::PartitionListPtr list;
  if (!offsets.empty()) list = detail::ToPartitionList(offsets);
  const rd_kafka_resp_err_t err = rd_kafka_commit(impl_->rk, list.get(), sync ? 0 : 1);
  if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return;  // nothing stored since the last commit
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) throw KafkaError::FromCode("commit", err, impl_->rk);
  if (sync) detail::ThrowOnPartitionError("commit", list.get());
}

std::vector<TopicPartitionOffset> Consumer::Committed(const std::vector<TopicPartition>& partitions,
                                                      std::chrono::milliseconds timeout) {
  detail::PartitionListPtr list = detail::ToPartitionList(partitions);
  if (const rd_kafka_resp_err_t err =
          rd_kafka_committed(impl_->rk, list.get(), detail::TimeoutMs(timeout))) {
    throw KafkaError::FromCode("committed", err, impl_->rk);
  }
  detail::ThrowOnPartitionError("committed", list.get());
  return detail::OffsetsOf(list.get());
}

void Consumer::Seek(const std::vector<TopicPartitionOffset>& offsets,
                    std::chrono::milliseconds timeout) {
  detail::PartitionListPtr list = detail::ToPartitionList(offsets);
  if (rd_kafka_error_t* error =
          rd_kafka_seek_partitions(impl_->rk, list.get(), detail::TimeoutMs(timeout))) {
    throw KafkaError::FromError("seek", error);
  }
  detail::ThrowOnPartitionError("seek", list.get());
}

void Consumer::RewindToCommitted(std::chrono::milliseconds timeout) {
  const std::vector<TopicPartition> assigned = Assignment();
  if (assigned.empty()) return;
  std::vector<TopicPartitionOffset> offsets = Committed(assigned, timeout);
  for (auto& o : offsets) {
    if (o.offset < 0) o.offset = impl_->reset_to_end ? kOffsetEnd : kOffsetBeginning;
  }
  Seek(offsets, timeout);
}

std::vector<TopicPartitionOffset> Consumer::OffsetsForTimes(
    const std::vector<TopicPartitionOffset>& times, std::chrono::milliseconds timeout) {
  detail::PartitionListPtr list = detail::ToPartitionList(times);
  if (const rd_kafka_resp_err_t err =
          rd_kafka_offsets_for_times(impl_->rk, list.get(), detail::TimeoutMs(timeout))) {
    throw KafkaError::FromCode("offsets for times", err, impl_->rk);
  }
  detail::ThrowOnPartitionError("offsets for times", list.get());
  return detail::OffsetsOf(list.get());
}

std::vector<TopicPartitionOffset> Consumer::Position(
    const std::vector<TopicPartition>& partitions) {
  detail::PartitionListPtr list = detail::ToPartitionList(partitions);
  if (const rd_kafka_resp_err_t err = rd_kafka_position(impl_->rk, list.get())) {
    throw KafkaError::FromCode("position", err, impl_->rk);
  }
  return detail::OffsetsOf(list.get());
}

std::vector<TopicPartition> Consumer::Assignment() {
  rd_kafka_topic_partition_list_t* raw = nullptr;
  if (const rd_kafka_resp_err_t err = rd_kafka_assignment(impl_->rk, &raw)) {
    throw KafkaError::FromCode("assignment", err, impl_->rk);
  }
  detail::PartitionListPtr list(raw);
  return detail::PartitionsOf(list.get());
}

void Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  detail::PartitionListPtr list = detail::ToPartitionList(partitions);
  if (const rd_kafka_resp_err_t err = rd_kafka_pause_partitions(impl_->rk, list.get())) {
    throw KafkaError::FromCode("pause", err, impl_->rk);
  }
}

void Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  detail::PartitionListPtr list = detail::ToPartitionList(partitions);
  if (const rd_kafka_resp_err_t err = rd_kafka_resume_partitions(impl_->rk, list.get())) {
    throw KafkaError::FromCode("resume", err, impl_->rk);
  }
}

GroupMetadata Consumer::ConsumerGroupMetadata() {
  rd_kafka_consumer_group_metadata_t* raw = rd_kafka_consumer_group_metadata(impl_->rk);
  if (raw == nullptr) {
    throw KafkaError("kafka: consumer has no group metadata (no group.id?)",
                     RD_KAFKA_RESP_ERR__STATE, ErrorKind::kPermanent);
  }
  return GroupMetadata(raw);
}

std::string Consumer::RebalanceProtocol() { return rd_kafka_rebalance_protocol(impl_->rk); }

std::pair<std::int64_t, std::int64_t> Consumer::Watermarks(const TopicPartition& partition,
                                                           std::chrono::milliseconds timeout) {
  int64_t low = kOffsetInvalid;
  int64_t high = kOffsetInvalid;
  if (const rd_kafka_resp_err_t err =
          rd_kafka_query_watermark_offsets(impl_->rk, partition.topic.c_str(), partition.partition,
                                           &low, &high, detail::TimeoutMs(timeout))) {
    throw KafkaError::FromCode("query watermarks of " + partition.topic, err, impl_->rk);
  }
  return {low, high};
}

std::vector<PartitionLag> Consumer::Lag(std::chrono::milliseconds timeout) {
  std::vector<PartitionLag> out;
  const std::vector<TopicPartition> assigned = Assignment();
  const std::vector<TopicPartitionOffset> positions = Position(assigned);
  for (size_t i = 0; i < assigned.size(); ++i) {
    PartitionLag lag;
    lag.partition = assigned[i];
    lag.position = positions[i].offset;
    const rd_kafka_resp_err_t err =
        rd_kafka_get_watermark_offsets(impl_->rk, assigned[i].topic.c_str(), assigned[i].partition,
                                       &lag.low, &lag.high);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR || lag.high < 0) {
      std::tie(lag.low, lag.high) = Watermarks(assigned[i], timeout);
    }
    if (lag.position >= 0 && lag.high >= 0) {
      lag.lag = std::max<std::int64_t>(0, lag.high - lag.position);
    }
    out.push_back(std::move(lag));
  }
  return out;
}

bool Consumer::BrokerReachable(std::chrono::milliseconds timeout) {
  return detail::BrokerReachable(impl_->rk, timeout);
}

void Consumer::Close() { impl_->Close(); }

rd_kafka_t* Consumer::Handle() const { return impl_->rk; }

}  // namespace sluice::kafka
