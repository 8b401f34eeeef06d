#include "sluice/runtime/kafka_session.hpp"

#include <functional>
#include <utility>

#include "sluice/core/error.hpp"
#include "sluice/runtime/dlq.hpp"

namespace sluice::runtime {

KafkaSession::KafkaSession(KafkaSessionOptions options, RowSerde& serde,
                           core::ShutdownToken shutdown, obs::Logger log,
                           obs::StandardMetrics* metrics)
    : options_(std::move(options)), serde_(serde), shutdown_(std::move(shutdown)),
      log_(std::move(log)), metrics_(metrics), dlq_limit_(kNoDlqLimit) {}

std::chrono::milliseconds KafkaSession::KafkaTimeout() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(options_.kafka_timeout);
}

void KafkaSession::Prepare() {
  const KafkaSessionOptions& o = options_;
  if (!o.topics.empty()) {
    WithRetry(o.retry, shutdown_, log_, "create topics", [&] {
      kafka::Admin admin(ClientConfig());
      admin.CreateTopics(o.topics, KafkaTimeout());
    });
  }
  const std::int32_t id = WithRetry(o.retry, shutdown_, log_, "register output schema", [&] {
    return serde_.RegisterOutput(o.output_topic, o.output_schema);
  });
  log_.Info("output schema registered", {{"subject", o.output_topic + "-value"}, {"id", id}});
  dlq_limit_ = WithRetry(o.retry, shutdown_, log_, "DLQ topic limit", [&] {
    return DlqMessageLimit(o.librdkafka, o.dlq_topic, KafkaTimeout());
  });
}

bool KafkaSession::BuildProducer(bool until_shutdown) {
  producer_.reset();  // the old one first: one producer per transactional.id in this process
  kafka::Config pcfg = ClientConfig();
  pcfg.Set("transactional.id", options_.transactional_id);
  FitBatchesToDlq(pcfg, dlq_limit_);
  producer_ = std::make_unique<kafka::Producer>(pcfg);
  // InitTransactions fences a previous instance with the same transactional.id and aborts its
  // open transaction: what is committed downstream is final up to here.
  const auto init = [&] { InitTransactions(*producer_, KafkaTimeout()); };
  if (until_shutdown) {
    return RetryUntilShutdown(options_.retry, shutdown_, log_, "init transactions", init);
  }
  WithRetry(options_.retry, shutdown_, log_, "init transactions", init);
  return true;
}

std::optional<kafka::KafkaError> KafkaSession::Abort() {
  return producer_->AbortTransactionBestEffort(KafkaTimeout());
}

void KafkaSession::Commit() {
  CommitTransactionWithRetry(*producer_, KafkaTimeout(), options_.retry.budget, log_);
}

void KafkaSession::DeadLetter(const Record& record, const stages::Outcome& outcome) {
  const std::string rule = outcome.DlqRule();
  producer_->Produce(MakeDlqMessage(options_.dlq_topic, record,
                                    {options_.stage_name, rule, outcome.DlqReason()}, dlq_limit_));
  if (metrics_) metrics_->records_rejected.With({rule}).Inc();
}

}  // namespace sluice::runtime
