#include "sluice/kafka/error.hpp"

#include <string>

namespace sluice::kafka {
namespace {

core::Retry RetryFor(ErrorKind kind) {
  return kind == ErrorKind::kRetriable || kind == ErrorKind::kAbortable ? core::Retry::kYes
                                                                        : core::Retry::kNo;
}

std::string Describe(std::string_view operation, rd_kafka_resp_err_t code, ErrorKind kind,
                     std::string_view detail) {
  std::string text = "kafka: ";
  text.append(operation);
  text += " failed: ";
  text.append(detail);
  text += " (";
  text += rd_kafka_err2name(code);
  text += ", ";
  text += ToString(kind);
  text += ")";
  if (code == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID) {
    // Static membership (KIP-345): the broker keeps one member per group.instance.id and
    // fences the older one when a second process joins with the same id.
    text += ": another consumer joined the group with this consumer's group.instance.id; "
            "two running processes share one instance id (give each its own SLUICE_INSTANCE_ID)";
  }
  return text;
}

}  // namespace

KafkaError::KafkaError(std::string what, rd_kafka_resp_err_t code, ErrorKind kind)
    : core::InfraError(std::move(what), RetryFor(kind)), code_(code), kind_(kind) {}

KafkaError KafkaError::FromError(std::string_view operation, rd_kafka_error_t* error) {
  const rd_kafka_resp_err_t code = rd_kafka_error_code(error);
  ErrorKind kind = ErrorKind::kPermanent;
  if (rd_kafka_error_is_fatal(error)) {
    kind = ErrorKind::kFatal;
  } else if (rd_kafka_error_txn_requires_abort(error)) {
    kind = ErrorKind::kAbortable;
  } else if (rd_kafka_error_is_retriable(error) || IsRetriableCode(code)) {
    kind = ErrorKind::kRetriable;
  }
  std::string text = Describe(operation, code, kind, rd_kafka_error_string(error));
  rd_kafka_error_destroy(error);
  return KafkaError(std::move(text), code, kind);
}

KafkaError KafkaError::FromCode(std::string_view operation, rd_kafka_resp_err_t code,
                                rd_kafka_t* rk) {
  if (code == RD_KAFKA_RESP_ERR__FATAL && rk != nullptr) {
    char reason[512] = {0};
    const rd_kafka_resp_err_t original = rd_kafka_fatal_error(rk, reason, sizeof(reason));
    return KafkaError(Describe(operation, original, ErrorKind::kFatal, reason), original,
                      ErrorKind::kFatal);
  }
  const ErrorKind kind = code == RD_KAFKA_RESP_ERR__FATAL ? ErrorKind::kFatal
                         : IsRetriableCode(code)          ? ErrorKind::kRetriable
                                                          : ErrorKind::kPermanent;
  return KafkaError(Describe(operation, code, kind, rd_kafka_err2str(code)), code, kind);
}

bool KafkaError::IsFenced() const noexcept {
  return code_ == RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID || code_ == RD_KAFKA_RESP_ERR__FENCED ||
         code_ == RD_KAFKA_RESP_ERR_PRODUCER_FENCED;
}

bool IsRetriableCode(rd_kafka_resp_err_t code) noexcept {
  switch (code) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR__RESOLVE:
    case RD_KAFKA_RESP_ERR__WAIT_COORD:
    case RD_KAFKA_RESP_ERR__RETRY:
    case RD_KAFKA_RESP_ERR__NODE_UPDATE:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
    case RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR:
      return true;
    default:
      return false;
  }
}

const char* ToString(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::kRetriable:
      return "retriable";
    case ErrorKind::kAbortable:
      return "transaction must be aborted";
    case ErrorKind::kFatal:
      return "fatal";
    case ErrorKind::kPermanent:
      return "permanent";
  }
  return "unknown";
}

}  // namespace sluice::kafka
