#pragma once
// Kafka failures as exceptions that know what the caller should do next.
#include <librdkafka/rdkafka.h>

#include <string>
#include <string_view>

#include "sluice/core/error.hpp"

namespace sluice::kafka {

// What a failed librdkafka call asks of the caller.
enum class ErrorKind {
  kRetriable,  // transient: retry the same call (with backoff)
  kAbortable,  // the current transaction must be aborted, then the work redone
  kFatal,      // the client instance is unusable: the daemon must exit
  kPermanent,  // this request cannot succeed as asked (bad topic, bad state, ...)
};

// A librdkafka error: code, kind, and the operation that failed. Retryable() is true for
// kRetriable and kAbortable (redoing the work after an abort helps), false otherwise.
// Value type; thrown by every wrapper in this module, never from a librdkafka callback.
class KafkaError : public core::InfraError {
 public:
  KafkaError(std::string what, rd_kafka_resp_err_t code, ErrorKind kind);

  rd_kafka_resp_err_t Code() const noexcept { return code_; }
  ErrorKind Kind() const noexcept { return kind_; }
  bool IsRetriable() const noexcept { return kind_ == ErrorKind::kRetriable; }
  bool TxnRequiresAbort() const noexcept { return kind_ == ErrorKind::kAbortable; }
  bool IsFatal() const noexcept { return kind_ == ErrorKind::kFatal; }
  // The broker fenced this client: a consumer's group.instance.id or a producer's
  // transactional.id is (or was, until a session expired) held by another instance.
  bool IsFenced() const noexcept;

  // Builds the error for `operation` from an rd_kafka_error_t and destroys it.
  static KafkaError FromError(std::string_view operation, rd_kafka_error_t* error);
  // Builds the error for `operation` from a bare code, classifying it. When the code is
  // RD_KAFKA_RESP_ERR__FATAL and rk is given, the underlying fatal error is reported.
  static KafkaError FromCode(std::string_view operation, rd_kafka_resp_err_t code,
                             rd_kafka_t* rk = nullptr);

 private:
  rd_kafka_resp_err_t code_;
  ErrorKind kind_;
};

// Transient codes that a retry of the same call may cure (timeouts, leader moves, ...).
bool IsRetriableCode(rd_kafka_resp_err_t code) noexcept;

const char* ToString(ErrorKind kind) noexcept;

}  // namespace sluice::kafka
