#include "sluice/kafka/producer.hpp"

#include <spdlog/spdlog.h>

#include <atomic>
#include <mutex>

#include "sluice/core/error.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/detail/rdkafka_glue.hpp"

namespace sluice::kafka {
namespace {

// Enough to diagnose a failing stage without letting a dead broker grow memory unboundedly.
constexpr std::size_t kMaxKeptFailures = 10'000;

}  // namespace

struct Producer::Impl {
  rd_kafka_t* rk = nullptr;
  bool transactional = false;
  DeliveryCallback on_delivery;
  mutable std::mutex mu;
  std::vector<DeliveryReport> failures;  // guarded by mu
  std::uint64_t dropped_failures = 0;    // guarded by mu
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> failed{0};

  ~Impl() {
    if (rk == nullptr) return;
    // A transactional producer's open transaction is never committed by destroy (the
    // coordinator aborts it on timeout or when the next instance with the same
    // transactional.id initialises), so flushing it would only deliver doomed records.
    if (!transactional) {
      const rd_kafka_resp_err_t err = rd_kafka_flush(rk, 10'000);
      if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        spdlog::error("kafka producer {}: {} records undelivered at shutdown", rd_kafka_name(rk),
                      rd_kafka_outq_len(rk));
      }
    }
    rd_kafka_destroy(rk);
  }

  // Runs on the thread that polls (Produce/Poll/Flush/CommitTransaction). Never throws.
  static void OnDelivery(rd_kafka_t* /*rk*/, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<Impl*>(opaque);
    DeliveryReport report;
    report.topic = rd_kafka_topic_name(m->rkt);
    report.partition = m->partition;
    report.offset = m->offset;
    report.error = m->err;
    if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      report.error_message = rd_kafka_err2str(m->err);
      self->failed.fetch_add(1, std::memory_order_relaxed);
      std::lock_guard lock(self->mu);
      if (self->failures.size() < kMaxKeptFailures) {
        self->failures.push_back(report);
      } else {
        ++self->dropped_failures;
      }
    } else {
      self->delivered.fetch_add(1, std::memory_order_relaxed);
    }
    if (self->on_delivery) {
      try {
        self->on_delivery(report);
      } catch (const std::exception& e) {
        spdlog::error("kafka delivery callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("kafka delivery callback threw a non-standard exception");
      }
    }
  }

  // Runs on librdkafka's threads or the polling thread. Never throws: fatal errors surface as
  // RD_KAFKA_RESP_ERR__FATAL from the next call and become KafkaError{kFatal}.
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
      char fatal[512] = {0};
      const rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
      spdlog::critical("kafka producer {} fatal error {}: {}", rd_kafka_name(rk),
                       rd_kafka_err2name(original), fatal);
      return;
    }
    spdlog::warn("kafka producer {}: {} ({})", rd_kafka_name(rk), reason,
                 rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err)));
  }

  void Check(std::string_view operation, rd_kafka_error_t* error) const {
    if (error != nullptr) throw KafkaError::FromError(operation, error);
  }

  void RequireTransactional(std::string_view operation) const {
    if (!transactional) {
      throw KafkaError("kafka: " + std::string(operation) +
                           " needs a transactional producer (set transactional.id)",
                       RD_KAFKA_RESP_ERR__STATE, ErrorKind::kPermanent);
    }
  }
};

Producer::Producer(const Config& config, DeliveryCallback on_delivery)
    : impl_(std::make_unique<Impl>()) {
  const Config merged = config.WithDefaults(DefaultsFor(ClientRole::kProducer));
  detail::ConfPtr conf = detail::MakeConf(merged);
  rd_kafka_conf_set_dr_msg_cb(conf.get(), &Impl::OnDelivery);
  rd_kafka_conf_set_error_cb(conf.get(), &Impl::OnError);
  rd_kafka_conf_set_opaque(conf.get(), impl_.get());
  impl_->transactional = merged.Has("transactional.id");
  impl_->on_delivery = std::move(on_delivery);
  impl_->rk = detail::NewHandle(RD_KAFKA_PRODUCER, std::move(conf));
}

Producer::~Producer() = default;
Producer::Producer(Producer&&) noexcept = default;
Producer& Producer::operator=(Producer&&) noexcept = default;

bool Producer::Transactional() const { return impl_->transactional; }

void Producer::Produce(const Message& message, std::chrono::milliseconds max_block) {
  detail::HeadersPtr headers = detail::ToRdHeaders(message.headers);
  const void* key = message.key ? message.key->data() : nullptr;
  const size_t key_len = message.key ? message.key->size() : 0;
  // A zero-length non-null value must stay non-null (empty != tombstone), so point at the
  // string's buffer even when it is empty.
  void* value = message.value ? const_cast<char*>(message.value->data()) : nullptr;
  const size_t value_len = message.value ? message.value->size() : 0;
  const auto deadline = std::chrono::steady_clock::now() + max_block;
  for (;;) {
    const rd_kafka_resp_err_t err = rd_kafka_producev(
        impl_->rk, RD_KAFKA_V_TOPIC(message.topic.c_str()),
        RD_KAFKA_V_PARTITION(message.partition), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_KEY(key, key_len), RD_KAFKA_V_VALUE(value, value_len),
        RD_KAFKA_V_HEADERS(headers.get()), RD_KAFKA_V_TIMESTAMP(message.timestamp.ms),
        RD_KAFKA_V_END);
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      (void)headers.release();  // librdkafka owns the headers once the record is queued
      break;
    }
    if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && std::chrono::steady_clock::now() < deadline) {
      // Serving delivery reports is what frees queue space.
      rd_kafka_poll(impl_->rk, 100);
      continue;
    }
    throw KafkaError::FromCode("produce to " + message.topic, err, impl_->rk);
  }
  rd_kafka_poll(impl_->rk, 0);
}

int Producer::Poll(std::chrono::milliseconds timeout) {
  return rd_kafka_poll(impl_->rk, detail::TimeoutMs(timeout));
}

void Producer::Flush(std::chrono::milliseconds timeout) {
  const rd_kafka_resp_err_t err = rd_kafka_flush(impl_->rk, detail::TimeoutMs(timeout));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    throw KafkaError::FromCode(
        "flush (" + std::to_string(rd_kafka_outq_len(impl_->rk)) + " records outstanding)", err,
        impl_->rk);
  }
}

int Producer::OutQueueLength() const { return rd_kafka_outq_len(impl_->rk); }

bool Producer::BrokerReachable(std::chrono::milliseconds timeout) {
  return detail::BrokerReachable(impl_->rk, timeout);
}

void Producer::InitTransactions(std::chrono::milliseconds timeout) {
  impl_->RequireTransactional("init_transactions");
  impl_->Check("init_transactions",
               rd_kafka_init_transactions(impl_->rk, detail::TimeoutMs(timeout)));
}

void Producer::BeginTransaction() {
  impl_->RequireTransactional("begin_transaction");
  impl_->Check("begin_transaction", rd_kafka_begin_transaction(impl_->rk));
}

void Producer::SendOffsetsToTransaction(const std::vector<TopicPartitionOffset>& offsets,
                                        const GroupMetadata& group,
                                        std::chrono::milliseconds timeout) {
  impl_->RequireTransactional("send_offsets_to_transaction");
  detail::PartitionListPtr list = detail::ToPartitionList(offsets);
  impl_->Check("send_offsets_to_transaction",
               rd_kafka_send_offsets_to_transaction(impl_->rk, list.get(), group.Raw(),
                                                    detail::TimeoutMs(timeout)));
}

void Producer::CommitTransaction(std::chrono::milliseconds timeout) {
  impl_->RequireTransactional("commit_transaction");
  impl_->Check("commit_transaction",
               rd_kafka_commit_transaction(impl_->rk, detail::TimeoutMs(timeout)));
}

void Producer::AbortTransaction(std::chrono::milliseconds timeout) {
  impl_->RequireTransactional("abort_transaction");
  impl_->Check("abort_transaction",
               rd_kafka_abort_transaction(impl_->rk, detail::TimeoutMs(timeout)));
}

std::optional<KafkaError> Producer::AbortTransactionBestEffort(std::chrono::milliseconds timeout) {
  try {
    AbortTransaction(timeout);
  } catch (KafkaError& e) {
    return std::move(e);
  }
  return std::nullopt;
}

std::vector<DeliveryReport> Producer::TakeDeliveryFailures() {
  std::lock_guard lock(impl_->mu);
  if (impl_->dropped_failures > 0) {
    spdlog::error("kafka producer: {} further delivery failures were not kept",
                  impl_->dropped_failures);
    impl_->dropped_failures = 0;
  }
  return std::exchange(impl_->failures, {});
}

DeliveryStats Producer::Stats() const {
  return {impl_->delivered.load(std::memory_order_relaxed),
          impl_->failed.load(std::memory_order_relaxed)};
}

rd_kafka_t* Producer::Handle() const { return impl_->rk; }

}  // namespace sluice::kafka
