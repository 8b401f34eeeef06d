#include "sluice/runtime/sink_loop.hpp"

#include <algorithm>
#include <future>
#include <optional>
#include <set>
#include <utility>

#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/stage.hpp"

namespace sluice::runtime {

namespace {

using Clock = std::chrono::steady_clock;

// An open batch is written when no record arrives for this long (the sink has caught up).
constexpr std::chrono::milliseconds kIdleFlush{20};
constexpr const char* kHeaderOriginalKey = "sluice-dlq-original-key";

std::optional<std::int64_t> SourceTsMs(const kafka::ReceivedMessage& m) {
  const std::optional<std::string_view> h = m.LastHeader(kHeaderSourceTs);
  return h ? ParseSourceTsMs(*h) : std::nullopt;
}

}  // namespace

kafka::Message ConsumedDlqMessage(const kafka::Message& consumed, const std::string& dlq_topic,
                                  const std::string& stage, const std::string& rule,
                                  const std::string& reason, kafka::Headers extra,
                                  std::size_t max_bytes) {
  Record r;
  r.original = consumed.value.value_or("");
  r.headers = FromKafkaHeaders(consumed.headers);
  r.origin = Origin::Kafka(consumed.topic, consumed.partition, consumed.offset);
  r.key = r.origin.ToString();
  if (consumed.key) extra.insert(extra.begin(), {kHeaderOriginalKey, *consumed.key});
  return MakeDlqMessage(dlq_topic, r, {stage, rule, reason}, max_bytes, extra);
}

struct SinkLoop::Impl : kafka::RebalanceListener {
  // One consumed record waiting for the batch's commit.
  struct Pending {
    kafka::ReceivedMessage message;
    bool in_batch = false;  // false: dead-lettered by the writing thread, for `judged`
    std::optional<std::int64_t> source_ts_ms;  // the sluice-source-ts header
    // Set when the consuming thread judged the record unfit. The DLQ record is produced by the
    // writing thread with the rest of its batch, so every DLQ write, its delivery check and the
    // offsets that pass it belong to one batch.
    stages::Outcome judged;
  };
  // The records consumed since the last hand-off, and the rows of those that are in_batch.
  struct Batch {
    std::vector<Pending> pending;
    std::unique_ptr<SinkRows> rows;
    Clock::time_point started{};
  };
  // Counters shared by the consuming thread and the writing thread.
  struct Counters {
    std::atomic<std::uint64_t> batches{0}, records_in{0}, rows_written{0}, records_dlq{0},
        rebuilds{0};
  };

  Impl(SinkLoopOptions o, SinkWriter& w, core::ShutdownToken t, obs::Logger l,
       obs::StandardMetrics* m)
      : options(std::move(o)), writer(w), shutdown(std::move(t)), log(std::move(l)),
        metrics(m) {}

  ~Impl() {
    // Before any member goes: the consumer's close runs the revoke callback, which must find
    // the batches and the writing thread it touches still alive.
    if (!abandoned) Abandon();
  }

  kafka::Config ClientConfig() const { return kafka::Config(options.librdkafka); }
  std::chrono::milliseconds KafkaTimeout() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(options.kafka_timeout);
  }

  // --- start-up -------------------------------------------------------------------------

  void Prepare() {
    if (options.create_topics) EnsureTopics();
    dlq_limit = WithRetry(options.retry, shutdown, log, "DLQ topic limit", [&] {
      return DlqMessageLimit(options.librdkafka, options.dlq_topic, KafkaTimeout());
    });
    log.Info("DLQ message limit", {{"topic", options.dlq_topic}, {"bytes", dlq_limit}});
    writer.Prepare();
    kafka::Config pc = ClientConfig();
    FitBatchesToDlq(pc, dlq_limit);
    producer = std::make_unique<kafka::Producer>(pc);
    consumer = MakeConsumer();
    open.rows = writer.NewRows();
  }

  void EnsureTopics() {
    kafka::Admin admin(ClientConfig());
    for (const std::string& t : {options.topic, options.dlq_topic}) {
      try {
        admin.PartitionCount(t, KafkaTimeout());
        continue;  // exists: leave its settings alone
      } catch (const kafka::KafkaError&) {
      }
      admin.CreateTopics({{t, options.partitions, options.replication, options.topic_configs}},
                         KafkaTimeout());
      log.Info("created topic", {{"topic", t}});
    }
  }

  std::unique_ptr<kafka::Consumer> MakeConsumer() const {
    kafka::Config cc = ClientConfig();
    cc.Set("group.id", options.group_id);
    cc.Set("enable.auto.commit", "false");
    cc.Set("isolation.level", "read_committed");
    // A restarted sink gets its partitions back at once (no rebalance), and OnAssigned still
    // runs for them, so it still starts from the offsets stored in the target.
    if (!options.group_instance_id.empty()) cc.Set("group.instance.id", options.group_instance_id);
    return std::make_unique<kafka::Consumer>(cc);
  }

  // A consumer left unusable by an outage (fenced on rejoin after its session expired while the
  // broker was away) is replaced in-process: the batch in flight finishes, the open one is
  // dropped unwritten, and the new consumer starts from the offsets stored in the target.
  void RebuildConsumer(const std::string& why) {
    log.Error("rebuilding the Kafka consumer", {{"reason", why}});
    abandoned = true;  // the old consumer's revoke callback writes nothing
    assigned = 0;
    try {
      WaitForWriter();
    } catch (const core::InfraError& e) {
      log.Warn("the batch in flight failed; it is read again", {{"error", e.what()}});
    }
    open = Batch{};
    open.rows = writer.NewRows();
    spare.reset();
    try {
      consumer->Close();
    } catch (const std::exception& e) {
      log.Warn("closing the old consumer failed", {{"error", e.what()}});
    }
    consumer = MakeConsumer();
    abandoned = false;
    consumer->Subscribe({options.topic}, this);
    ++stats.rebuilds;
  }

  // --- rebalance --------------------------------------------------------------------------

  void OnAssigned(std::vector<kafka::TopicPartitionOffset>& parts) override {
    WaitForWriter();  // the target is the writing thread's while a batch is in flight
    std::vector<std::int32_t> ids;
    for (const auto& p : parts) ids.push_back(p.partition);
    const std::map<std::int32_t, std::int64_t> stored = writer.LoadOffsets(options.topic, ids);
    for (auto& p : parts) {
      auto it = stored.find(p.partition);
      // The target is the source of truth: Kafka-committed offsets are never read back.
      p.offset = it != stored.end() ? it->second : StartOf({p.topic, p.partition});
      log.Info("partition assigned", {{"topic", p.topic}, {"partition", p.partition},
                                      {"start_offset", p.offset},
                                      {"from", it != stored.end() ? options.target : "beginning"}});
    }
    assigned += static_cast<int>(parts.size());
  }

  // The first offset of a partition the sink has never written. An explicit offset starts the
  // fetch at once, where kOffsetBeginning makes librdkafka look it up first, and that lookup
  // can wait half a second behind other partitions' fetches.
  std::int64_t StartOf(const kafka::TopicPartition& tp) {
    try {
      return consumer->Watermarks(tp, KafkaTimeout()).first;
    } catch (const kafka::KafkaError& e) {
      log.Debug("low watermark unknown, librdkafka looks it up", {{"error", e.what()}});
      return kafka::kOffsetBeginning;
    }
  }

  void OnRevoked(const std::vector<kafka::TopicPartition>& parts) override {
    // Still ours: commit what we have so the next owner starts after it. Not after a failure
    // (Abandon): the next owner re-reads from the offsets stored with the last commit.
    if (!abandoned) Flush();
    assigned -= static_cast<int>(parts.size());
  }

  void OnLost(const std::vector<kafka::TopicPartition>& parts) override {
    // Someone else may already write these partitions: writing our older rows now could
    // overwrite theirs. Forget them; the new owner re-reads from the stored offsets.
    auto lost = [&](const Pending& p) {
      return std::any_of(parts.begin(), parts.end(), [&](const kafka::TopicPartition& tp) {
        return tp.partition == p.message.partition() && tp.topic == p.message.topic();
      });
    };
    // A batch already handed to the writing thread commits: the loss is only learnt here, and
    // a batch committed a moment before it would be the same.
    assigned -= static_cast<int>(parts.size());
    if (abandoned) return;
    WaitForWriter();
    std::vector<Pending> kept;
    std::vector<std::size_t> kept_rows;
    std::size_t row = 0;
    for (Pending& p : open.pending) {
      const bool in_batch = p.in_batch;
      if (!lost(p)) {
        if (in_batch) kept_rows.push_back(row);
        kept.push_back(std::move(p));
      }
      if (in_batch) ++row;
    }
    open.rows->Keep(kept_rows);
    open.pending = std::move(kept);
  }

  // --- per record -------------------------------------------------------------------------

  void Accept(kafka::ReceivedMessage m) {
    ++stats.records_in;
    if (metrics) metrics->records_in.Inc();
    stages::Outcome v = Judge(m.value().value_or(std::string_view()));
    // Judge may have written the open batch (a new shape): the clock starts with this record,
    // and the rows take the new shape.
    if (open.pending.empty()) {
      open.started = Clock::now();
      if (!writer.Fits(*open.rows)) open.rows = writer.NewRows();
    }
    Pending p{std::move(m)};
    if (metrics) p.source_ts_ms = SourceTsMs(p.message);
    SLUICE_ASSERT(v.IsEmit() || v.IsDeadLettered(), "a sink writer emits or dead-letters a record");
    if (v.IsEmit()) {
      writer.AppendJudged(*open.rows);
      p.in_batch = true;
    } else {
      p.judged = std::move(v);
    }
    open.pending.push_back(std::move(p));
  }

  // The writer's verdict, retrying what it needs from outside (the schema registry) for as
  // long as that takes: not ready meanwhile, and nothing is written.
  stages::Outcome Judge(std::string_view bytes) {
    // A failed flush is not retried with the judgement: the batch it wrote is gone from this
    // thread, so its failure ends Run, as it does from any other hand-off.
    const auto flush = [this] {
      try {
        Flush();
      } catch (const core::InfraError& e) {
        throw core::InfraError(e.what(), core::Retry::kNo);
      }
    };
    stages::Outcome v;
    if (!RetryUntilShutdown(options.retry, shutdown, log, "judge a record",
                            [&] { v = writer.Judge(bytes, flush); })) {
      throw core::InfraError("shutdown requested while judging a record", core::Retry::kNo);
    }
    return v;
  }

  kafka::Message DlqMessageFor(const kafka::ReceivedMessage& received, const stages::Outcome& outcome,
                               kafka::Headers extra = {}) const {
    return ConsumedDlqMessage(received.ToMessage(), options.dlq_topic, options.stage_name,
                              outcome.DlqRule(), outcome.DlqReason(), std::move(extra), dlq_limit);
  }

  // Produces `records` to the DLQ and waits until each is acknowledged. A refused delivery is
  // an infrastructure failure: all of them are produced again (keyed by origin, so a repeat
  // is recognisable) within the retry budget; the batch's offsets never pass an undelivered
  // DLQ record. Writing thread only: the DLQ producer's delivery reports belong to one batch.
  void DeliverToDlq(const std::vector<kafka::Message>& records) {
    if (records.empty()) return;
    const bool delivered = RetryUntilShutdown(options.retry, shutdown, log, "DLQ delivery", [&] {
      for (const kafka::Message& m : records) producer->Produce(m);
      producer->Flush(options.kafka_timeout);
      auto failures = producer->TakeDeliveryFailures();
      if (!failures.empty()) {
        throw core::InfraError("DLQ delivery failed for " + std::to_string(failures.size()) +
                                   " record(s): " + failures.front().error_message,
                               core::Retry::kYes);
      }
    });
    if (!delivered) {
      throw core::InfraError("shutdown requested before the DLQ records were delivered; "
                             "offsets not advanced",
                             core::Retry::kNo);
    }
    for (const kafka::Message& m : records) {
      const kafka::Header* rule = kafka::FindLastHeader(m.headers, kHeaderRule);
      const kafka::Header* reason = kafka::FindLastHeader(m.headers, kHeaderReason);
      const std::string rule_name = rule && rule->value ? *rule->value : "";
      ++stats.records_dlq;
      if (metrics) metrics->records_rejected.With({rule_name}).Inc();
      log.Warn("record sent to the DLQ",
               {{"origin", m.key.value_or("")}, {"rule", rule_name},
                {"reason", reason && reason->value ? *reason->value : ""}});
    }
  }

  // After a failure that ends Run: the writing thread is waited for (its own failure, if
  // any, is the same story), and the consumer is closed without writing what is open; the
  // next owner of the partitions re-reads from the offsets stored with the last commit.
  void Abandon() noexcept {
    abandoned = true;
    assigned = 0;
    try {
      WaitForWriter();
    } catch (const std::exception& e) {
      log.Warn("the batch in flight failed too", {{"error", e.what()}});
    }
    try {
      if (consumer) consumer->Close();
    } catch (const std::exception& e) {
      log.Warn("consumer close after a failure", {{"error", e.what()}});
    }
  }

  // --- per batch --------------------------------------------------------------------------

  // Hands the open batch to the writing thread, after the previous one is committed: judging
  // the next batch overlaps writing this one. One batch in flight at a time keeps the order of
  // commits (and so of stored offsets) the order of consumption.
  void Handoff() {
    std::shared_ptr<Batch> done = WaitForWriter();
    if (open.pending.empty()) return;
    // Buffers of the batch before last keep their capacity.
    std::shared_ptr<Batch> job = std::move(spare);
    if (!job) job = std::make_shared<Batch>();
    if (!job->rows || !writer.Fits(*job->rows)) job->rows = writer.NewRows();
    std::swap(*job, open);
    in_flight_job = job;
    in_flight = std::async(std::launch::async, [this, job] { Write(*job); });
    // While the new batch is written: the committed one's records go back to librdkafka.
    if (done) {
      done->pending.clear();
      done->rows->Clear();
      spare = std::move(done);
    }
  }

  // Waits for the batch in flight, if any, and returns it; rethrows its failure
  // (core::InfraError).
  std::shared_ptr<Batch> WaitForWriter() {
    if (!in_flight.valid()) return nullptr;
    in_flight.get();
    return std::move(in_flight_job);
  }

  // Writes the open batch and waits for its commit (rebalance, a new shape, shutdown).
  void Flush() {
    Handoff();
    WaitForWriter();
  }

  // One batch: rows, DLQ records for refused rows, and offsets in one target transaction.
  // Runs on the writing thread (or with it idle).
  void Write(const Batch& job) {
    const std::vector<Pending>& pending = job.pending;
    const auto started = Clock::now();
    std::vector<std::size_t> row_to_pending;
    for (std::size_t i = 0; i < pending.size(); ++i) {
      if (pending[i].in_batch) row_to_pending.push_back(i);
    }
    std::map<std::int32_t, std::int64_t> next;
    for (const Pending& p : pending) {
      auto& n = next[p.message.partition()];
      n = std::max(n, p.message.offset() + 1);
    }
    std::vector<SinkOffset> to_save;
    for (const auto& [part, off] : next) to_save.push_back({part, off});

    // Records judged while consuming: dead-lettered once, before the transaction.
    std::vector<kafka::Message> judged;
    for (const Pending& p : pending) {
      if (!p.in_batch) judged.push_back(DlqMessageFor(p.message, p.judged));
    }
    DeliverToDlq(judged);
    std::set<std::size_t> dlq_sent;  // survives re-runs of the writer's unit of work
    const std::size_t written = writer.Write(
        *job.rows, to_save, [&](const std::vector<SinkRejection>& rejected) {
          std::vector<kafka::Message> refused;
          for (const SinkRejection& bad : rejected) {
            if (!dlq_sent.insert(bad.row).second) continue;
            refused.push_back(DlqMessageFor(pending[row_to_pending.at(bad.row)].message,
                                            bad.outcome, bad.headers));
          }
          // Before the commit that advances the offsets: a DLQ record is never lost (a crash
          // between this delivery and the commit re-sends it, once, keyed by origin).
          DeliverToDlq(refused);
        });
    stats.rows_written += written;
    ++stats.batches;
    if (metrics) {
      metrics->records_out.Inc(static_cast<double>(written));
      metrics->batch_seconds.Observe(
          std::chrono::duration<double>(Clock::now() - started).count());
      const std::int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count();
      for (const Pending& p : pending) {
        if (p.source_ts_ms) {
          metrics->end_to_end_seconds.Observe(static_cast<double>(now_ms - *p.source_ts_ms) /
                                              1000.0);
        }
      }
    }
    if (options.commit_to_kafka) {
      // Monitoring only (consumer-group lag tools); the target stays the source of truth.
      std::vector<kafka::TopicPartitionOffset> tpo;
      for (const SinkOffset& o : to_save) tpo.push_back({options.topic, o.partition, o.next_offset});
      try {
        consumer->Commit(tpo, /*sync=*/false);
      } catch (const kafka::KafkaError& e) {
        log.Debug("kafka offset commit (monitoring only) failed", {{"error", e.what()}});
      }
    }
    log.Debug("batch committed", {{"records", pending.size()}, {"rows", written}});
  }

  void UpdateLag() {
    try {
      for (const kafka::PartitionLag& l : consumer->Lag(std::chrono::milliseconds(500))) {
        if (l.lag < 0 || metrics == nullptr) continue;
        metrics->consumer_lag.With({l.partition.topic, std::to_string(l.partition.partition)})
            .Set(static_cast<double>(l.lag));
      }
      // Lag reads cached watermarks: a real round trip tells whether the broker is there.
      const auto now = Clock::now();
      if (now - last_probe >= kafka::kBrokerProbeEvery) {
        last_probe = now;
        broker_ok = consumer->BrokerReachable(kafka::kBrokerProbeTimeout);
      }
      if (!broker_ok) trouble.Note();
    } catch (const kafka::KafkaError& e) {
      broker_ok = false;
      trouble.Note();  // the broker is away: a "fenced" on rejoin is its after-effect
      log.Debug("lag unavailable", {{"error", e.what()}});
    }
  }

  void Run() {
    try {
      Consume();
    } catch (...) {
      Abandon();
      throw;
    }
  }

  void Consume() {
    SLUICE_ASSERT(consumer != nullptr, "SinkLoop::Run needs Prepare first");
    consumer->Subscribe({options.topic}, this);
    log.Info("consuming", {{"topic", options.topic}, {"group", options.group_id},
                           {"group_instance_id", options.group_instance_id}});
    auto last_lag = Clock::now();
    while (!shutdown.Requested()) {
      // With a batch open, a short poll: coming back empty means the topic is drained for now,
      // and the batch is written at once instead of lingering for records that are not there.
      auto timeout = std::chrono::milliseconds(200);
      if (!open.pending.empty()) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            open.started + options.linger - Clock::now());
        timeout = std::clamp(left, std::chrono::milliseconds(1), kIdleFlush);
      }
      const std::size_t room =
          options.batch_size - std::min(options.batch_size, open.pending.size());
      std::vector<kafka::ReceivedMessage> got;
      try {
        got = consumer->PollReceived(std::max<std::size_t>(room, 1), timeout);
      } catch (const kafka::KafkaError& e) {
        if (!e.IsFatal()) throw;
        if (trouble.FencedByTwin(e)) throw core::FencedError(e.what());
        RebuildConsumer(e.what());
        continue;
      }
      for (kafka::ReceivedMessage& m : got) Accept(std::move(m));
      if (open.pending.size() >= options.batch_size ||
          (!open.pending.empty() &&
           (got.empty() || Clock::now() - open.started >= options.linger))) {
        Handoff();
      }
      if (Clock::now() - last_lag >= std::chrono::seconds(1)) {
        UpdateLag();
        last_lag = Clock::now();
      }
    }
    log.Info("shutdown: writing the open batch", {{"records", open.pending.size()}});
    Flush();
    consumer->Close();  // revoke → Flush of nothing
    producer->Flush(options.kafka_timeout);
  }

  SinkLoopOptions options;
  SinkWriter& writer;
  core::ShutdownToken shutdown;
  obs::Logger log;
  obs::StandardMetrics* metrics;
  std::unique_ptr<kafka::Producer> producer;  // the DLQ's (not transactional)
  std::unique_ptr<kafka::Consumer> consumer;
  Batch open;
  std::shared_ptr<Batch> in_flight_job;  // the batch the writing thread is committing
  std::shared_ptr<Batch> spare;          // the last one committed, emptied for reuse
  std::future<void> in_flight;
  Counters stats;
  std::size_t dlq_limit = kNoDlqLimit;  // from the broker, in Prepare
  bool abandoned = false;  // Run failed: revoke and loss no longer write (consuming thread)
  std::atomic<int> assigned{0};
  TroubleMemory trouble;  // when the broker was last unreachable (consuming thread)
  std::atomic<bool> broker_ok{true};  // the last probe reached the broker (for /readyz)
  Clock::time_point last_probe{};     // the last BrokerReachable round trip
};

SinkLoop::SinkLoop(SinkLoopOptions options, SinkWriter& writer, core::ShutdownToken shutdown,
                   obs::Logger log, obs::StandardMetrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), writer, std::move(shutdown),
                                   std::move(log), metrics)) {}

SinkLoop::~SinkLoop() = default;

void SinkLoop::Prepare() { impl_->Prepare(); }
void SinkLoop::Run() { impl_->Run(); }
bool SinkLoop::Assigned() const { return impl_->assigned.load() > 0; }
bool SinkLoop::BrokerReachable() const { return impl_->broker_ok.load(); }
SinkLoopStats SinkLoop::Stats() const {
  const auto& c = impl_->stats;
  return {c.batches.load(), c.records_in.load(), c.rows_written.load(), c.records_dlq.load(),
          c.rebuilds.load()};
}

}  // namespace sluice::runtime
