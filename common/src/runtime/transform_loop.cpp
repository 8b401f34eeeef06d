#include "sluice/runtime/transform_loop.hpp"

#include <atomic>
#include <filesystem>
#include <mutex>
#include <utility>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/kafka_session.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::runtime {
namespace {

using Clock = std::chrono::steady_clock;
// Input waiting and no batch committed for this long: the stage is stuck, so not ready.
constexpr std::chrono::seconds kStuckAfter{60};
// A loop that has not come round for this long is not ready (blocked in a commit retry).
constexpr std::chrono::seconds kPulseLimit{10};
// Records handled between two polls inside a transaction, and the longest wait for more
// while it is open: an input that pauses that long is committed at once.
constexpr std::size_t kChunk = 500;
constexpr std::chrono::milliseconds kRefill{5};

std::optional<SourceTime> ParseSourceTs(const Headers& headers) {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name != kHeaderSourceTs) continue;
    const std::optional<std::int64_t> ms = ParseSourceTsMs(it->value);
    if (!ms) return std::nullopt;
    return SourceTime(std::chrono::milliseconds(*ms));
  }
  return std::nullopt;
}

bool HasHeader(const Headers& headers, const char* name) {
  for (const auto& h : headers) {
    if (h.name == name) return true;
  }
  return false;
}

// A record read by the bounded run's TopicReader (an owned kafka::Message), with the accessors
// of kafka::ReceivedMessage so that Handle reads both the same way.
class HeldMessage {
 public:
  explicit HeldMessage(const kafka::Message& m) : m_(m) {}
  std::int32_t partition() const { return m_.partition; }
  std::int64_t offset() const { return m_.offset; }
  std::optional<std::string_view> key() const {
    if (!m_.key) return std::nullopt;
    return std::string_view(*m_.key);
  }
  std::optional<std::string_view> value() const {
    if (!m_.value) return std::nullopt;
    return std::string_view(*m_.value);
  }
  const kafka::Headers& headers() const { return m_.headers; }
  kafka::Timestamp timestamp() const { return m_.timestamp; }
  const kafka::Message& ToMessage() const { return m_; }

 private:
  const kafka::Message& m_;
};

// Records per second: a token bucket holding at most a tenth of a second's worth (at least
// one), so a run never bursts far above its rate.
class TokenBucket {
 public:
  explicit TokenBucket(double rate)
      : rate_(rate), burst_(std::max(1.0, rate / 10)), tokens_(burst_), last_(Clock::now()) {}
  // Takes one token, waiting for it. Returns at once, without a token, once shutdown is asked.
  void Take(const core::ShutdownToken& shutdown) {
    while (true) {
      const auto now = Clock::now();
      tokens_ = std::min(burst_, tokens_ + rate_ * std::chrono::duration<double>(now - last_).count());
      last_ = now;
      if (tokens_ >= 1) {
        tokens_ -= 1;
        return;
      }
      const auto wait = std::chrono::duration<double>((1 - tokens_) / rate_);
      if (shutdown.WaitFor(std::chrono::duration_cast<std::chrono::microseconds>(wait) +
                           std::chrono::microseconds(1))) {
        return;
      }
    }
  }

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

}  // namespace

TransformLoopOptions OptionsFromConfig(const pipeline::PipelineConfig& config, config::Stage stage) {
  TransformLoopOptions o;
  const auto& topics = config.TopicNames();
  std::string in_schema, out_schema;
  if (stage == config::Stage::kCleaner) {
    o.stage_name = config::IdentityOf(stage).dlq_stage;
    o.input_topic = topics.raw;
    o.output_topic = topics.clean;
    in_schema = "raw";
    out_schema = "clean";
  } else if (stage == config::Stage::kEnricher) {
    o.stage_name = config::IdentityOf(stage).dlq_stage;
    o.input_topic = topics.clean;
    o.output_topic = topics.enriched;
    in_schema = "clean";
    out_schema = "enriched";
  } else {
    throw core::ConfigError("the transform loop runs the cleaner or the enricher only");
  }
  o.dlq_topic = topics.dlq;
  o.input_schema = config.LoadSchema(in_schema);
  o.output_schema = config.LoadSchema(out_schema);
  o.group_id = config.ConsumerGroup(stage);
  o.transactional_id = config.TransactionalId(stage);
  o.group_instance_id = config.GroupInstanceId(stage);
  o.librdkafka = config.Librdkafka(stage);
  config::View section = config.SectionView(std::string(config::IdentityOf(stage).section));
  if (section.Exists() && section.Has("batch_size")) {
    o.batch_size = static_cast<std::size_t>(section.Int("batch_size"));
  }
  if (section.Exists() && section.Has("linger")) o.linger = section.Duration("linger");
  if (section.Exists() && section.Has("max_record_bytes")) {
    o.max_record_bytes = static_cast<std::size_t>(section.Int("max_record_bytes"));
  }
  o.partitions = topics.partitions;
  o.replication = topics.replication;
  o.topic_configs = topics.configs;
  o.retry = RetryPolicy::FromConfig(config.SectionView("retry"));
  return o;
}

struct TransformLoop::Impl : kafka::RebalanceListener {
  TransformLoopOptions opt;
  StageFactory make_stage;
  SchemaSource& schemas;
  core::ShutdownToken shutdown;
  obs::Logger log;
  obs::StandardMetrics* metrics;
  http::Server* http;

  RowSerde serde;
  std::unique_ptr<TransformStage> stage;
  // Declaration order is shutdown order in reverse: the consumer closes before the session's
  // producer.
  KafkaSession session;
  std::unique_ptr<kafka::Consumer> consumer;

  std::atomic<bool> ready{false};
  std::atomic<bool> assigned{false};
  mutable std::mutex stats_mu;
  TransformLoopStats stats;
  Clock::time_point last_lag_check{};
  // Since when batches have been failing (unset when the last one committed): not ready then.
  Clock::time_point failing_since{};
  // The last batch committed, or the last moment with no input waiting.
  Clock::time_point last_progress{};
  Clock::time_point last_probe{};  // the last BrokerReachable round trip
  // When the loop last came round (steady-clock ticks), for the readiness check's thread.
  std::atomic<Clock::rep> last_pulse{Clock::now().time_since_epoch().count()};
  bool broker_ok = true;
  // Assignments and revocations seen (on the loop's thread, inside a poll).
  std::uint64_t rebalances = 0;

  Impl(TransformLoopOptions o, StageFactory f, SchemaSource& s, core::ShutdownToken t,
       obs::Logger l, obs::StandardMetrics* m, http::Server* h)
      : opt(std::move(o)), make_stage(std::move(f)), schemas(s), shutdown(std::move(t)),
        log(std::move(l)), metrics(m), http(h), serde(schemas),
        session(SessionOptions(opt), serde, shutdown, log, metrics) {}

  static KafkaSessionOptions SessionOptions(const TransformLoopOptions& o) {
    KafkaSessionOptions s;
    s.stage_name = o.stage_name;
    s.output_topic = o.output_topic;
    s.dlq_topic = o.dlq_topic;
    s.output_schema = o.output_schema;
    if (o.create_topics && !(o.bounds && o.bounds->dry_run)) {
      for (const auto* t : {&o.input_topic, &o.output_topic, &o.dlq_topic}) {
        s.topics.push_back({*t, o.partitions, o.replication, o.topic_configs});
      }
      if (o.bounds) {
        for (const auto& t : o.bounds->extra_topics) s.topics.push_back(t);
      }
    }
    s.transactional_id = o.transactional_id;
    s.librdkafka = o.librdkafka;
    s.kafka_timeout = o.kafka_timeout;
    s.retry = o.retry;
    return s;
  }

  std::chrono::milliseconds KafkaTimeout() const { return session.KafkaTimeout(); }
  kafka::Producer& Producer() { return session.Producer(); }

  void OnAssigned(std::vector<kafka::TopicPartitionOffset>& partitions) override {
    ++rebalances;
    log.Info("partitions assigned", {{"count", partitions.size()}});
    assigned = true;
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override {
    ++rebalances;
    log.Info("partitions revoked", {{"count", partitions.size()}});
    ready = false;
  }

  // Replays the committed records of the output topic through stage->Warm (see
  // TransformStage::WantsWarm). A TopicReader (assigned: no group join, no commits) reads every
  // partition from the beginning to its end as of now, read_committed.
  void WarmStage() {
    if (!opt.warm || !stage->WantsWarm()) return;
    auto t0 = Clock::now();
    kafka::Config wcfg(opt.librdkafka);
    wcfg.Set("group.id", opt.group_id + "-warm");
    wcfg.Set("isolation.level", "read_committed");
    kafka::TopicReaderOptions ropt;
    ropt.timeout = KafkaTimeout();
    // Fatal errors still throw; the rest librdkafka recovers from by itself.
    ropt.on_error = [&](const kafka::KafkaError& e) {
      log.Warn("warm: consumer error", {{"error", e.what()}});
    };
    kafka::TopicReader warm(wcfg, opt.output_topic, std::move(ropt));
    std::uint64_t records = 0;
    auto on_record = [&](const kafka::Message& m) {
      Record r;
      r.key = m.key.value_or(std::string());
      const std::string_view bytes = m.value ? std::string_view(*m.value) : std::string_view();
      auto decoded = serde.Decode(bytes, &opt.output_schema);
      if (!decoded) return;  // not ours to judge: it was emitted, the sink will say
      r.value = std::move(*decoded.value);
      r.origin = Origin::Kafka(opt.output_topic, m.partition, m.offset);
      r.headers = FromKafkaHeaders(m.headers);
      r.source_time = ParseSourceTs(r.headers);
      if (!r.source_time && m.timestamp.ms > 0) {
        r.source_time = SourceTime(std::chrono::milliseconds(m.timestamp.ms));
      }
      stage->Warm(r);
      ++records;
    };
    try {
      if (!warm.ReadToEnd(on_record, Clock::now() + opt.retry.budget,
                          [&] { return shutdown.Requested(); })) {
        throw core::InfraError("warm: shutdown requested", core::Retry::kNo);
      }
    } catch (const kafka::ReadDeadlineError& e) {
      throw core::InfraError(
          std::string("warm: the output topic was not read to its end within the retry budget: ") +
              e.what(),
          core::Retry::kYes);
    }
    warm.Close();
    log.Info("stage state warmed from the output topic",
             {{"records", records}, {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}});
  }

  void Start() {
    // Registered first: until the consumer has partitions the daemon is not ready, however
    // long topic creation, the registry, InitTransactions or warming take.
    if (http) {
      http->AddReadinessCheck(opt.stage_name + "-kafka", [this] {
        if (!assigned) return http::CheckResult{false, "no partitions assigned yet"};
        if (!ready) return http::CheckResult{false, "consumer lag not known yet"};
        // The loop thread may be blocked (a commit retried while the broker is away) and
        // unable to say so itself: a loop that has not come round for a while is not ready.
        const auto idle = Clock::now().time_since_epoch() - std::chrono::nanoseconds(last_pulse.load());
        if (idle > kPulseLimit) return http::CheckResult{false, "the loop has not come round (a commit or a dependency is waiting)"};
        return http::CheckResult{true, ""};
      });
    }
    session.Prepare();
    BuildClients(/*until_shutdown=*/false);
    log.Info("transform loop started",
             {{"input", opt.input_topic}, {"output", opt.output_topic}, {"dlq", opt.dlq_topic},
              {"group", opt.group_id}, {"transactional_id", opt.transactional_id},
              {"group_instance_id", opt.group_instance_id},
              {"batch_size", opt.batch_size}});
  }

  // The transactional producer (InitTransactions), the stage's warmed state and the consumer,
  // each step retried within the budget at start-up, as long as it takes when healing.
  // Returns false when shutdown was requested.
  bool BuildClients(bool until_shutdown) {
    const auto retry = [&](const std::string& what, const std::function<void()>& fn) {
      if (until_shutdown) return RetryUntilShutdown(opt.retry, shutdown, log, what, fn);
      WithRetry(opt.retry, shutdown, log, what, fn);
      return true;
    };
    if (!session.BuildProducer(until_shutdown)) return false;
    // After InitTransactions: a zombie's open transaction is aborted, so the output topic's
    // committed content is final up to here.
    stage = make_stage();
    if (!retry("warm stage state", [&] { WarmStage(); })) return false;

    kafka::Config ccfg(opt.librdkafka);
    ccfg.Set("group.id", opt.group_id);
    ccfg.Set("isolation.level", "read_committed");
    if (!opt.group_instance_id.empty()) ccfg.Set("group.instance.id", opt.group_instance_id);
    consumer = std::make_unique<kafka::Consumer>(ccfg);
    consumer->Subscribe({opt.input_topic}, this);
    return true;
  }

  // Rebuilds the Kafka clients in-process after an outage left them unusable (a consumer
  // fenced because its session expired while the broker was away, an abortable or fatal
  // transactional state, a rewind that failed): the old ones are dropped without committing
  // anything, a new producer is initialised (which aborts whatever the old one left open), the
  // stage state is warmed again and a new consumer resumes from the committed offsets. Waits
  // for the broker as long as it takes. Returns false when shutdown was requested.
  bool Heal(const std::string& why) {
    log.Error("rebuilding the Kafka clients", {{"reason", why}});
    ready = false;
    assigned = false;
    if (consumer) {
      try {
        consumer->Close();
      } catch (const std::exception& e) {
        log.Warn("closing the old consumer failed", {{"error", e.what()}});
      }
      consumer.reset();
    }
    session.DropProducer();
    if (!BuildClients(/*until_shutdown=*/true)) return false;
    std::lock_guard lock(stats_mu);
    ++stats.rebuilds;
    log.Info("Kafka clients rebuilt; consuming again from the committed offsets",
             {{"rebuilds", stats.rebuilds}});
    return true;
  }

  void CheckLag() {
    auto now = Clock::now();
    if (now - last_lag_check < std::chrono::seconds(1)) return;
    last_lag_check = now;
    std::vector<kafka::PartitionLag> lags;
    try {
      // Lag reads cached watermarks; a real round trip every few seconds notices a broker
      // that went away while the stage was idle.
      if (now - last_probe >= kafka::kBrokerProbeEvery) {
        last_probe = now;
        broker_ok = consumer->BrokerReachable(kafka::kBrokerProbeTimeout);
      }
      if (!broker_ok) {
        throw kafka::KafkaError("kafka: no broker answers a metadata request",
                                RD_KAFKA_RESP_ERR__TRANSPORT, kafka::ErrorKind::kRetriable);
      }
      lags = consumer->Lag(std::chrono::milliseconds(500));
    } catch (const kafka::KafkaError& e) {
      if (e.IsFatal()) throw;
      log.Warn("consumer lag unavailable", {{"error", e.what()}});
      ready = false;
      session.Trouble().Note();
      return;
    }
    bool known = !lags.empty();
    bool waiting = false;  // input is there to be read
    for (const auto& l : lags) {
      if (l.high == kafka::kOffsetInvalid) known = false;
      if (l.lag > 0) waiting = true;
      if (metrics) {
        metrics->consumer_lag
            .With({l.partition.topic, std::to_string(l.partition.partition)})
            .Set(static_cast<double>(l.lag < 0 ? 0 : l.lag));
      }
    }
    assigned = !lags.empty();
    // Stuck: input waiting and nothing committed for kStuckAfter (a batch that hangs, a
    // dependency that neither answers nor fails) is not ready either.
    if (!waiting) last_progress = now;
    const bool stuck = waiting && last_progress != Clock::time_point{} &&
                       now - last_progress > kStuckAfter;
    if (stuck && ready) {
      log.Warn("no progress with input waiting; not ready",
               {{"since_s", std::chrono::duration_cast<std::chrono::seconds>(now - last_progress).count()}});
    }
    ready = known && failing_since == Clock::time_point{} && !stuck;
  }

  // Handles one consumed message inside the open transaction; returns (out, dlq) counts. The
  // message is read where librdkafka holds it: its bytes are decoded in place, and only a dead
  // letter copies them.
  // Templated on the message: kafka::ReceivedMessage (the live consumer) or HeldMessage (the
  // bounded run's reader). A dry run writes nothing; the observer hears every verdict.
  template <class Msg>
  std::pair<int, int> Handle(const Msg& msg) {
    const bool dry = opt.bounds && opt.bounds->dry_run;
    TransformObserver* observer = opt.bounds ? opt.bounds->observer : nullptr;
    Record r;
    r.key = std::string(msg.key().value_or(std::string_view()));
    r.headers = FromKafkaHeaders(msg.headers());
    r.origin = Origin::Kafka(opt.input_topic, msg.partition(), msg.offset());
    const kafka::Timestamp ts = msg.timestamp();
    const std::string_view bytes = msg.value().value_or(std::string_view());
    r.source_time = ParseSourceTs(r.headers);
    if (!r.source_time && ts.ms > 0) {
      r.source_time = SourceTime(std::chrono::milliseconds(ts.ms));
    }
    auto to_dlq = [&](const stages::Outcome& why) {
      const kafka::Message m = msg.ToMessage();
      Record view;
      view.key = m.key.value_or(std::string());
      view.headers = FromKafkaHeaders(m.headers);
      view.origin = Origin::Kafka(m.topic, m.partition, m.offset);
      view.original = m.value.value_or(std::string());
      if (!dry) session.DeadLetter(view, why);
      if (observer) observer->Judged(msg.partition(), why, {});
      return std::pair<int, int>{0, 1};
    };

    if (bytes.size() > opt.max_record_bytes) {
      return to_dlq(stages::Outcome::Reject(stages::DlqCode::kTooLarge,
                                            "record of " + std::to_string(bytes.size()) +
                                                " bytes is larger than max_record_bytes (" +
                                                std::to_string(opt.max_record_bytes) + "); not decoded"));
    }
    auto decoded = serde.Decode(bytes, &opt.input_schema);  // InfraError propagates
    if (!decoded) return to_dlq(stages::Outcome::Reject(stages::DlqCode::kUndecodable, decoded.error));
    r.value = std::move(*decoded.value);

    StageResult result = stage->Process(std::move(r));
    const stages::Outcome& outcome = result.outcome;
    if (outcome.IsDeadLettered()) return to_dlq(outcome);
    SLUICE_ASSERT(outcome.IsEmit(), "a transform stage emits or dead-letters every record");

    // Encode all first: a record that cannot be written goes to the DLQ whole, never half.
    std::vector<kafka::Message> out;
    for (auto& rec : result.records) {
      kafka::Message m;
      m.topic = opt.output_topic;
      if (!rec.key.empty()) m.key = rec.key;
      if (rec.IsDecoded()) {
        auto bytes = serde.Encode(opt.output_topic, rec.Row());
        if (!bytes) {
          return to_dlq(stages::Outcome::Reject(stages::DlqCode::kUnencodable,
                                                bytes.error.substr(bytes.error.find(':') + 2)));
        }
        m.value = std::move(*bytes.value);
      } else {
        m.value = rec.RawBytes();
      }
      if (!HasHeader(rec.headers, kHeaderOrigin)) {
        rec.headers.push_back({kHeaderOrigin, Origin::Kafka(opt.input_topic, msg.partition(), msg.offset()).ToString()});
      }
      if (!HasHeader(rec.headers, kHeaderSourceTs) && rec.source_time) {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      rec.source_time->time_since_epoch()).count();
        rec.headers.push_back({kHeaderSourceTs, std::to_string(ms)});
      }
      m.headers = ToKafkaHeaders(rec.headers);
      m.timestamp.ms = ts.ms;  // keep the record's time (windows, end-to-end)
      out.push_back(std::move(m));
      if (metrics && rec.source_time) {
        double secs = std::chrono::duration<double>(std::chrono::system_clock::now() -
                                                    *rec.source_time).count();
        metrics->end_to_end_seconds.Observe(secs < 0 ? 0 : secs);
      }
    }
    if (observer) observer->Judged(msg.partition(), outcome, result.records);
    if (!dry) {
      for (const auto& m : out) Producer().Produce(m);
    }
    return {static_cast<int>(out.size()), 0};
  }

  void Abandon(const std::string& why) {
    if (auto failed = session.Abort()) {
      // Not aborted (fatal, or timed out while the broker is away): the loop heals by
      // rebuilding the producer, whose InitTransactions aborts the open transaction.
      throw *failed;
    }
    consumer->RewindToCommitted(KafkaTimeout());
    // The stage's running state (dedupe windows, statistics) saw records that will be read
    // again: start it afresh so a record is never a duplicate of its own first attempt.
    stage = make_stage();
    WithRetry(opt.retry, shutdown, log, "warm stage state", [&] { WarmStage(); });
    std::lock_guard lock(stats_mu);
    ++stats.aborts;
    log.Warn("transaction aborted; batch will be redone", {{"reason", why}});
  }

  // One transaction, sized by count and by time: it begins with `first` (records already
  // polled) and goes on taking what the consumer has queued, handling each chunk as it comes
  // so the CPU work overlaps with the producer's sends, until batch_size records are in,
  // linger has passed since it began, or the input pauses. Then the offsets and the commit:
  // one round trip per transaction, however many records it holds.
  // Returns true when it committed; false when it was aborted and must be re-read.
  bool ProcessTransaction(std::vector<kafka::ReceivedMessage> first) {
    auto t0 = Clock::now();
    const auto deadline = t0 + opt.linger;
    std::size_t in = 0;
    int out = 0, dlq = 0;
    std::map<std::int32_t, std::int64_t> next;  // per partition of the input topic
    bool open = false;
    try {
      Producer().BeginTransaction();
      open = true;
      // The group generation the records were read under: a rebalance while the transaction
      // is open (inside a poll below) makes the offsets stale, and the broker refuses them
      // (KIP-447); the loop does not wait for that, it aborts and redoes the transaction.
      const std::uint64_t generation = rebalances;
      auto group = consumer->ConsumerGroupMetadata();
      std::vector<kafka::ReceivedMessage> chunk = std::move(first);
      while (true) {
        for (const auto& msg : chunk) {
          auto [o, d] = Handle(msg);
          out += o;
          dlq += d;
          auto [it, inserted] = next.emplace(msg.partition(), msg.offset() + 1);
          if (!inserted) it->second = std::max(it->second, msg.offset() + 1);
        }
        in += chunk.size();
        if (in >= opt.batch_size || shutdown.Requested()) break;
        const auto now = Clock::now();
        if (now >= deadline) break;
        chunk = consumer->PollReceived(
            std::min(kChunk, opt.batch_size - in),
            std::min(kRefill, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
        if (generation != rebalances) throw kafka::KafkaError(
            "kafka: the group rebalanced while a transaction was open", RD_KAFKA_RESP_ERR__STATE,
            kafka::ErrorKind::kAbortable);
        if (chunk.empty()) break;  // the input paused: commit what is in
      }
      std::vector<kafka::TopicPartitionOffset> offsets;
      offsets.reserve(next.size());
      for (const auto& [partition, offset] : next) offsets.push_back({opt.input_topic, partition, offset});
      Producer().SendOffsetsToTransaction(offsets, group, KafkaTimeout());
      session.Commit();
      open = false;
    } catch (const kafka::KafkaError& e) {
      if (e.IsFatal()) throw;  // the loop heals (or exits when fenced by a live twin)
      Abandon(e.what());
      return false;
    } catch (const core::InfraError& e) {
      if (open) Abandon(e.what());
      if (!e.Retryable()) throw;
      return false;
    } catch (...) {
      // A stage bug or a configuration problem: nothing of this batch becomes visible. That
      // error is the one to report, so a failed abort, even a fatal one, is only logged.
      if (open) {
        if (auto failed = session.Abort()) {
          log.Warn("abort transaction failed", {{"error", failed->what()}});
        }
      }
      throw;
    }
    last_progress = Clock::now();
    CountBatch(t0, in, out, dlq);
    return true;
  }

  // A committed batch in the metrics and the stats (the live and the bounded loop).
  void CountBatch(Clock::time_point t0, std::size_t in, int out, int dlq) {
    if (metrics) {
      metrics->records_in.Inc(static_cast<double>(in));
      metrics->records_out.Inc(static_cast<double>(out));
      metrics->batch_seconds.Observe(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::lock_guard lock(stats_mu);
    ++stats.batches;
    stats.records_in += in;
    stats.records_out += static_cast<std::uint64_t>(out);
    stats.records_dlq += static_cast<std::uint64_t>(dlq);
  }

  // Consumes until shutdown. Infrastructure failures never end it: a failed batch is aborted
  // and redone with backoff; a client left unusable, or failures lasting longer than the retry
  // budget, make it rebuild its clients (Heal). Only configuration errors, stage bugs and a
  // live second instance with the same id end the loop.
  void Loop() {
    core::Duration backoff = opt.retry.initial_backoff;
    std::string heal_reason;
    while (!shutdown.Requested()) {
      last_pulse = Clock::now().time_since_epoch().count();
      try {
        if (!heal_reason.empty()) {
          if (!Heal(heal_reason)) break;
          heal_reason.clear();
        }
        // Waits up to linger for the first records of a transaction.
        auto batch = consumer->PollReceived(
            std::min(kChunk, opt.batch_size),
            std::chrono::duration_cast<std::chrono::milliseconds>(opt.linger));
        CheckLag();
        if (batch.empty()) continue;
        if (ProcessTransaction(std::move(batch))) {
          failing_since = {};
          backoff = opt.retry.initial_backoff;
          continue;
        }
        session.Trouble().Note();  // the batch was aborted
      } catch (const kafka::KafkaError& e) {
        if (session.Trouble().FencedByTwin(e)) {
          throw core::FencedError(e.what());
        }
        log.Warn("Kafka client unusable; it will be rebuilt", {{"error", e.what()}});
        heal_reason = e.what();
        if (!e.IsFenced()) session.Trouble().Note();
      } catch (const core::InfraError& e) {
        if (shutdown.Requested()) break;
        session.Trouble().Note();
        log.Warn("infrastructure failure in the loop", {{"error", e.what()}});
        if (!e.Retryable()) heal_reason = e.what();
      }
      ready = false;
      const auto now = Clock::now();
      if (failing_since == Clock::time_point{}) failing_since = now;
      if (heal_reason.empty() && now - failing_since > opt.retry.budget) {
        heal_reason = "batches kept failing for longer than the retry budget of " +
                      core::FormatDuration(opt.retry.budget);
        failing_since = now;
      }
      if (shutdown.WaitFor(backoff)) break;
      backoff = std::min(backoff * 2, opt.retry.max_backoff);
    }
    log.Info("transform loop stopping", {{"batches", Stats().batches}});
    if (consumer) consumer->Close();
  }

  // ---- The bounded run (TransformOptions::bounds: sluice-replay) ----

  std::unique_ptr<kafka::TopicReader> reader;
  std::map<std::int32_t, std::int64_t> done_to;  // per partition: next offset, committed
  std::map<std::int32_t, std::int64_t> range_end;
  std::optional<TokenBucket> bucket;

  bool Dry() const { return opt.bounds->dry_run; }
  TransformObserver* Observer() const { return opt.bounds->observer; }

  bool Finished() const {
    for (const auto& [partition, end] : range_end) {
      if (done_to.at(partition) < end) return false;
    }
    return true;
  }

  // A reader from the committed positions to the range ends (assigned, read_committed).
  void OpenReader() {
    if (reader) reader->Close();
    std::vector<kafka::PartitionRange> ranges;
    for (const auto& [partition, end] : range_end) {
      ranges.push_back({{opt.input_topic, partition}, std::min(done_to[partition], end), end});
    }
    kafka::Config rcfg(opt.librdkafka);
    rcfg.Set("group.id", opt.group_id);
    rcfg.Set("isolation.level", "read_committed");
    kafka::TopicReaderOptions ropt;
    ropt.timeout = KafkaTimeout();
    ropt.on_error = [this](const kafka::KafkaError& e) {
      log.Warn("replay: consumer error", {{"error", e.what()}});
    };
    reader = std::make_unique<kafka::TopicReader>(rcfg, std::move(ranges), std::move(ropt));
  }

  // Per partition, the next offset once what the reader handed out is committed: its position
  // (past commit markers and aborted records too), never past the range end.
  std::map<std::int32_t, std::int64_t> ReaderNext() const {
    std::map<std::int32_t, std::int64_t> next = done_to;
    const bool at_end = reader->AtEnd();
    for (const auto& p : reader->Positions()) {
      const std::int64_t end = range_end.at(p.partition);
      if (at_end) next[p.partition] = end;
      else if (p.offset >= 0) next[p.partition] = std::max(next[p.partition], std::min(p.offset, end));
    }
    return next;
  }

  void ReportLag() {
    if (!metrics) return;
    for (const auto& [partition, end] : range_end) {
      metrics->consumer_lag.With({opt.input_topic, std::to_string(partition)})
          .Set(static_cast<double>(std::max<std::int64_t>(0, end - done_to[partition])));
    }
  }

  // The open transaction failed: abort it (a producer whose abort failed is rebuilt before
  // the next one), read again from the committed positions with a fresh stage.
  void AbandonBounded(const std::string& why, bool open) {
    if (open) {
      if (auto failed = session.Abort()) {
        log.Warn("abort failed; the producer will be rebuilt", {{"error", failed->what()}});
        session.DropProducer();
      }
    }
    if (Observer()) Observer()->Aborted();
    OpenReader();
    stage = make_stage();
    WarmStage();
    std::lock_guard lock(stats_mu);
    ++stats.aborts;
    log.Warn("replay transaction abandoned; it will be redone", {{"reason", why}});
  }

  // One transaction of the bounded run: records from the reader until batch_size, linger, a
  // pause of the input or the range end; the offsets (and the observer's records) with them.
  // Returns true when it committed (or, dry, when it was counted).
  bool BoundedTransaction() {
    const auto t0 = Clock::now();
    const auto deadline = t0 + opt.linger;
    std::vector<kafka::Message> chunk;
    const auto take = [&chunk](const kafka::Message& m) { chunk.push_back(m); };
    reader->Read(take, std::min(kChunk, opt.batch_size),
                 std::chrono::duration_cast<std::chrono::milliseconds>(opt.linger));
    if (chunk.empty() && ReaderNext() == done_to) return true;  // nothing new yet
    std::size_t in = 0;
    int out = 0, dlq = 0;
    bool open = false;
    std::map<std::int32_t, std::int64_t> next;
    try {
      if (!Dry()) {
        Producer().BeginTransaction();
        open = true;
      }
      while (true) {
        // A chunk is always handled whole, so the reader's positions are what was handled.
        for (const auto& m : chunk) {
          if (bucket && !shutdown.Requested()) bucket->Take(shutdown);
          auto [o, d] = Handle(HeldMessage(m));
          out += o;
          dlq += d;
        }
        in += chunk.size();
        if (in >= opt.batch_size || shutdown.Requested() || reader->AtEnd()) break;
        const auto now = Clock::now();
        if (now >= deadline) break;
        chunk.clear();
        reader->Read(take, std::min(kChunk, opt.batch_size - in),
                     std::min(kRefill, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now)));
        if (chunk.empty()) break;
      }
      next = ReaderNext();
      if (!Dry()) {
        if (Observer()) {
          for (const auto& m : Observer()->BeforeCommit(next)) Producer().Produce(m);
        }
        std::vector<kafka::TopicPartitionOffset> offsets;
        for (const auto& [partition, offset] : next) offsets.push_back({opt.input_topic, partition, offset});
        // No group is joined: the metadata names the replay's group alone (generation -1).
        const kafka::GroupMetadata group(rd_kafka_consumer_group_metadata_new(opt.group_id.c_str()));
        Producer().SendOffsetsToTransaction(offsets, group, KafkaTimeout());
        session.Commit();
        open = false;
      }
    } catch (const kafka::KafkaError& e) {
      AbandonBounded(e.what(), open);
      if (e.IsFatal()) throw;
      return false;
    } catch (const core::InfraError& e) {
      AbandonBounded(e.what(), open);
      if (!e.Retryable()) throw;
      return false;
    } catch (...) {
      if (open) {
        if (auto failed = session.Abort()) log.Warn("abort transaction failed", {{"error", failed->what()}});
      }
      throw;
    }
    done_to = next;
    if (Observer()) Observer()->Committed(next);
    ReportLag();
    CountBatch(t0, in, out, dlq);
    return true;
  }

  // Until every partition reached its end or shutdown. A failed transaction is abandoned and
  // redone with backoff; failures lasting longer than the retry budget end the run with
  // InfraError (a rerun resumes from the committed positions).
  void RunBounded() {
    const TransformBounds& b = *opt.bounds;
    for (const auto& p : b.partitions) {
      done_to[p.partition] = p.start;
      range_end[p.partition] = p.end;
    }
    if (b.max_rate > 0) bucket.emplace(b.max_rate);
    if (http) {
      http->AddReadinessCheck(opt.stage_name + "-replay", [this] {
        const auto idle = Clock::now().time_since_epoch() - std::chrono::nanoseconds(last_pulse.load());
        if (idle > kPulseLimit) return http::CheckResult{false, "the replay has not come round (a commit or a dependency is waiting)"};
        return http::CheckResult{true, ""};
      });
    }
    if (Dry()) {
      // Encoding needs the output schema's id; it is found (registered by the live stage).
      WithRetry(opt.retry, shutdown, log, "find the output schema",
                [&] { serde.RegisterOutput(opt.output_topic, opt.output_schema); });
    } else {
      session.Prepare();
      if (!session.BuildProducer(/*until_shutdown=*/false)) return;
    }
    stage = make_stage();
    WithRetry(opt.retry, shutdown, log, "warm stage state", [&] { WarmStage(); });
    OpenReader();
    ReportLag();
    log.Info("bounded run started",
             {{"input", opt.input_topic}, {"output", opt.output_topic}, {"group", opt.group_id},
              {"transactional_id", opt.transactional_id}, {"dry_run", b.dry_run},
              {"partitions", range_end.size()}});
    core::Duration backoff = opt.retry.initial_backoff;
    while (!shutdown.Requested() && !Finished()) {
      last_pulse = Clock::now().time_since_epoch().count();
      try {
        if (!Dry() && !session.HasProducer() && !session.BuildProducer(/*until_shutdown=*/false)) break;
        if (BoundedTransaction()) {
          failing_since = {};
          backoff = opt.retry.initial_backoff;
          continue;
        }
      } catch (const kafka::KafkaError& e) {
        // A bounded run has no twin to share the work with: a second run under the same
        // transactional id fenced this one, and it stops at once (rebuilding would fence the
        // other back, and both would write the range).
        if (e.IsFenced()) throw core::FencedError(e.what());
        log.Warn("Kafka client unusable; the producer will be rebuilt", {{"error", e.what()}});
        session.DropProducer();
      } catch (const core::InfraError& e) {
        if (shutdown.Requested()) break;
        if (!e.Retryable()) throw;
        log.Warn("infrastructure failure in the replay", {{"error", e.what()}});
      }
      session.Trouble().Note();
      const auto now = Clock::now();
      if (failing_since == Clock::time_point{}) failing_since = now;
      if (now - failing_since > opt.retry.budget) {
        throw core::InfraError("replay transactions kept failing for longer than the retry budget of " +
                                   core::FormatDuration(opt.retry.budget) +
                                   "; run it again to resume from the committed positions",
                               core::Retry::kNo);
      }
      if (shutdown.WaitFor(backoff)) break;
      backoff = std::min(backoff * 2, opt.retry.max_backoff);
    }
    if (reader) reader->Close();
    log.Info("bounded run stopping", {{"batches", Stats().batches}, {"finished", Finished()}});
  }

  TransformLoopStats Stats() const {
    std::lock_guard lock(stats_mu);
    return stats;
  }
};

TransformLoop::TransformLoop(TransformLoopOptions options, StageFactory make_stage,
                             SchemaSource& schemas, core::ShutdownToken shutdown, obs::Logger log,
                             obs::StandardMetrics* metrics, http::Server* http)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(make_stage), schemas,
                                   std::move(shutdown), std::move(log), metrics, http)) {}

TransformLoop::~TransformLoop() = default;

void TransformLoop::Run() {
  if (impl_->opt.bounds) {
    impl_->RunBounded();
    return;
  }
  impl_->Start();
  impl_->Loop();
}

TransformLoopStats TransformLoop::Stats() const { return impl_->Stats(); }

}  // namespace sluice::runtime
