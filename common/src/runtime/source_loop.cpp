#include "sluice/runtime/source_loop.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

#include "sluice/core/error.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::runtime {
namespace {

using Clock = std::chrono::steady_clock;
// Items polled and written at a time inside a transaction (what is held in memory), and the
// longest a transaction stays open: it commits then even if batch_size items are not in.
constexpr std::size_t kChunk = 1000;
constexpr std::chrono::milliseconds kMaxTransactionTime{200};
// A transaction open this long is stuck (a commit retrying while the broker is away): not
// ready, as in the transform loop, though the retry budget has not run out yet.
constexpr std::chrono::seconds kStuckTransaction{10};

}  // namespace

std::map<std::string, std::string> ReadPositionsTopic(const std::map<std::string, std::string>& librdkafka,
                                                      const std::string& topic,
                                                      std::chrono::milliseconds timeout,
                                                      const obs::Logger& log) {
  kafka::TopicReaderOptions ropt;
  ropt.timeout = timeout;
  std::map<std::string, std::string> out;
  std::size_t records = 0;
  try {
    // read_committed (the reader's default): the end is the last stable offset, so everything
    // committed is read; a zombie's open transaction was aborted by InitTransactions.
    kafka::TopicReader reader(kafka::Config(librdkafka), topic, std::move(ropt));
    reader.ReadToEnd(
        [&](const kafka::Message& m) {
          ++records;
          const std::string key = m.key.value_or(std::string());
          if (m.value) out[key] = *m.value;
          else out.erase(key);  // a tombstone: the position was deliberately forgotten
        },
        Clock::now() + timeout);
    reader.Close();
  } catch (const kafka::ReadDeadlineError& e) {
    throw core::InfraError("reading " + topic + " did not reach its end in time: " + e.what(),
                           core::Retry::kYes);
  } catch (const kafka::KafkaError& e) {
    throw core::InfraError("reading " + topic + ": " + e.what(), core::Retry::kYes);
  }
  log.Info("positions read", {{"topic", topic}, {"records", records}, {"keys", out.size()}});
  return out;
}

struct SourceLoop::Impl {
  SourceLoopOptions opt;
  std::vector<std::unique_ptr<Source>> sources;
  core::ShutdownToken shutdown;
  obs::Logger log;
  obs::StandardMetrics* metrics;
  http::Server* http;
  RowSerde serde;
  KafkaSession session;

  std::map<std::string, std::string> committed;  // full position key -> bytes
  std::atomic<bool> ready{false};
  std::atomic<bool> broker_ok{true};  // the last idle-time probe reached a broker
  std::atomic<Clock::rep> txn_since{0};  // when the open transaction began; 0: none open
  mutable std::mutex stats_mu;
  SourceLoopStats stats;

  Impl(SourceLoopOptions o, std::vector<std::unique_ptr<Source>> s, SchemaSource& schemas,
       core::ShutdownToken t, obs::Logger l, obs::StandardMetrics* m, http::Server* h)
      : opt(std::move(o)), sources(std::move(s)), shutdown(t), log(l), metrics(m), http(h),
        serde(schemas), session(SessionOptions(opt), serde, t, l, m) {}

  static KafkaSessionOptions SessionOptions(const SourceLoopOptions& o) {
    KafkaSessionOptions s;
    s.stage_name = o.stage_name;
    s.output_topic = o.output_topic;
    s.dlq_topic = o.dlq_topic;
    s.output_schema = o.output_schema;
    s.topics = {{o.output_topic, o.partitions, o.replication, o.topic_configs},
                {o.dlq_topic, o.partitions, o.replication, o.topic_configs},
                {o.positions_topic, 1, o.replication, {{"cleanup.policy", "compact"}}}};
    s.transactional_id = o.transactional_id;
    s.librdkafka = o.librdkafka;
    s.kafka_timeout = o.kafka_timeout;
    s.retry = o.retry;
    return s;
  }

  // This source's committed positions, without the "<name>/" prefix.
  std::map<std::string, std::string> PositionsOf(const Source& source) const {
    const std::string prefix = source.Name() + "/";
    std::map<std::string, std::string> mine;
    for (auto it = committed.lower_bound(prefix);
         it != committed.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      mine.emplace(it->first.substr(prefix.size()), it->second);
    }
    return mine;
  }

  void RestoreAll() {
    for (auto& s : sources) s->Restore(PositionsOf(*s));
  }

  void Start() {
    if (http) {
      http->AddReadinessCheck(opt.stage_name, [this] {
        if (!broker_ok) return http::CheckResult{false, "the broker does not answer"};
        const Clock::rep since = txn_since.load();
        if (since != 0 && Clock::now().time_since_epoch() - Clock::duration(since) > kStuckTransaction) {
          return http::CheckResult{false, "a transaction has been open too long (Kafka not answering)"};
        }
        return ready ? http::CheckResult{true, ""}
                     : http::CheckResult{false, "positions not read yet, or Kafka failing: no transaction committed since"};
      });
    }
    session.Prepare();
    session.BuildProducer(/*until_shutdown=*/false);
    // After InitTransactions: the positions read now are exactly the committed ones.
    committed = WithRetry(opt.retry, shutdown, log, "read positions", [&] {
      return ReadPositionsTopic(opt.librdkafka, opt.positions_topic, session.KafkaTimeout(), log);
    });
    RestoreAll();
    ready = true;
    log.Info(opt.stage_name + " started",
             {{"output", opt.output_topic}, {"dlq", opt.dlq_topic},
              {"positions", opt.positions_topic}, {"transactional_id", opt.transactional_id},
              {"sources", sources.size()}});
  }

  // A new transactional producer after the old one was left unusable. Returns false when
  // shutdown was requested.
  bool Rebuild(const std::string& why) {
    log.Error("rebuilding the Kafka producer", {{"reason", why}});
    ready = false;
    if (!session.BuildProducer(/*until_shutdown=*/true)) return false;
    std::lock_guard lock(stats_mu);
    ++stats.rebuilds;
    log.Info("Kafka producer rebuilt", {{"rebuilds", stats.rebuilds}});
    return true;
  }

  // One transaction, sized by count and by time: it begins with `batch` (the first chunk
  // polled) and goes on polling `source` in chunks of kChunk items, writing each chunk as it
  // comes (so reading overlaps the producer's sends, and only a chunk of rows is held in
  // memory), until batch_size items are in, kMaxTransactionTime has passed, or the source
  // returns less than a full chunk (it paused, or its file ended). The positions of the last
  // chunk close the transaction. *in_txn is true while a transaction is open.
  void Commit(Source& source, SourceBatch& batch, std::size_t chunk, bool* in_txn) {
    const auto t0 = Clock::now();
    kafka::Producer& producer = session.Producer();
    producer.BeginTransaction();
    *in_txn = true;
    txn_since = t0.time_since_epoch().count();
    std::uint64_t in = 0, out = 0, dlq = 0;
    std::size_t items = 0;
    std::map<std::string, std::string> positions;
    while (true) {
      items += batch.items.size();
      const bool full = batch.items.size() >= chunk;
      for (SourceItem& item : batch.items) {
        if (item.counted) ++in;
        SLUICE_ASSERT(!item.outcome.IsSkip(), "a source leaves what is not a record out of its batch");
        SerdeResult<std::string> bytes;
        if (item.outcome.IsEmit() && item.tombstone) {
          kafka::Message m;
          m.topic = opt.output_topic;
          m.key = std::move(item.record.key);
          m.headers = ToKafkaHeaders(item.record.headers);
          producer.Produce(m);
          ++out;
          continue;
        }
        if (item.outcome.IsEmit()) {
          bytes = serde.Encode(opt.output_topic, item.record.Row());
          if (!bytes) {
            item.outcome = stages::Outcome::Reject(stages::DlqCode::kUnencodable, bytes.error);
          } else if (bytes.value->size() > opt.max_record_bytes) {
            item.outcome = stages::Outcome::Reject(
                stages::DlqCode::kTooLarge,
                "encoded row of " + std::to_string(bytes.value->size()) +
                    " bytes is larger than max_record_bytes (" + std::to_string(opt.max_record_bytes) + ")");
          }
        }
        if (item.outcome.IsDeadLettered()) {
          session.DeadLetter(item.record, item.outcome);
          ++dlq;
          continue;
        }
        kafka::Message m;
        m.topic = opt.output_topic;
        if (!item.record.key.empty()) m.key = std::move(item.record.key);
        m.value = std::move(*bytes.value);
        m.headers = ToKafkaHeaders(item.record.headers);
        producer.Produce(m);
        ++out;
      }
      for (auto& [key, value] : batch.positions) positions[key] = std::move(value);
      if (!full || items >= opt.batch_size || Clock::now() - t0 >= kMaxTransactionTime ||
          shutdown.Requested()) {
        break;
      }
      batch.Clear();
      if (source.Poll(batch, std::min(chunk, opt.batch_size - items)) != PollStatus::kBatch) break;
    }
    for (auto& [key, value] : positions) {
      kafka::Message pm;
      pm.topic = opt.positions_topic;
      pm.partition = 0;
      pm.key = source.Name() + "/" + key;
      pm.value = value;
      producer.Produce(pm);
    }
    session.Commit();
    *in_txn = false;
    txn_since = 0;
    for (auto& [key, value] : positions) committed[source.Name() + "/" + key] = std::move(value);
    source.Committed();
    ready = true;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (metrics) {
      metrics->records_in.Inc(static_cast<double>(in));
      metrics->records_out.Inc(static_cast<double>(out));
      metrics->batch_seconds.Observe(secs);
    }
    std::lock_guard lock(stats_mu);
    ++stats.transactions;
    stats.records_in += in;
    stats.records_out += out;
    stats.records_dlq += dlq;
  }

  // Aborts after a failure. Returns false when the abort failed: the producer must be rebuilt.
  bool AbortQuietly(const std::string& why) {
    if (auto failed = session.Abort()) {
      log.Warn("abort transaction failed; the producer will be rebuilt", {{"error", failed->what()}});
      return false;
    }
    std::lock_guard lock(stats_mu);
    ++stats.aborts;
    log.Warn("transaction aborted; the sources resume from their last committed positions",
             {{"reason", why}});
    return true;
  }

  // Infrastructure failures never end the loop: the transaction is aborted (or, when that
  // fails too, the producer rebuilt), every source is handed its committed positions again,
  // and the loop retries with backoff for as long as the outage lasts.
  void Loop() {
    std::vector<bool> finished(sources.size(), false);
    core::Duration backoff = opt.retry.initial_backoff;
    std::string rebuild;
    Clock::time_point failing_since{};
    SourceBatch batch;
    while (!shutdown.Requested()) {
      bool in_txn = false;
      try {
        if (!rebuild.empty()) {
          if (!Rebuild(rebuild)) break;
          rebuild.clear();
        }
        bool wrote = false, all_finished = true;
        for (std::size_t i = 0; i < sources.size() && !shutdown.Requested(); ++i) {
          if (finished[i]) continue;
          batch.Clear();
          const std::size_t chunk = std::min(kChunk, opt.batch_size);
          const PollStatus status = sources[i]->Poll(batch, chunk);
          if (status == PollStatus::kFinished) {
            finished[i] = true;
            continue;
          }
          all_finished = false;
          if (status == PollStatus::kBatch) {
            Commit(*sources[i], batch, chunk, &in_txn);
            wrote = true;
          }
        }
        failing_since = {};
        backoff = opt.retry.initial_backoff;
        if (all_finished) break;
        if (!wrote) {
          // Idle: ask a broker for real, so readiness notices one that went away.
          broker_ok = session.Producer().BrokerReachable(kafka::kBrokerProbeTimeout);
          // A source's interval may change (an HTTP source waiting out a Retry-After).
          core::Duration idle_wait = opt.retry.max_backoff;
          for (std::size_t i = 0; i < sources.size(); ++i) {
            if (!finished[i]) idle_wait = std::min(idle_wait, sources[i]->PollInterval());
          }
          shutdown.WaitFor(idle_wait);
        }
        continue;
      } catch (const kafka::KafkaError& e) {
        if (session.Trouble().FencedByTwin(e)) throw core::FencedError(e.what());
        if (!e.IsFenced()) session.Trouble().Note();  // a fence is not trouble: see TroubleMemory
        if (e.IsFatal() || (in_txn && !AbortQuietly(e.what()))) rebuild = e.what();
        log.Warn("batch interrupted by a Kafka error; retrying", {{"error", e.what()}});
      } catch (const core::InfraError& e) {
        if (!e.Retryable()) {
          if (in_txn) (void)session.Abort();
          throw;
        }
        session.Trouble().Note();
        if (in_txn && !AbortQuietly(e.what())) rebuild = e.what();
        log.Warn("batch interrupted by an infrastructure error; retrying", {{"error", e.what()}});
      } catch (...) {
        // That error is the one to report, so a failed abort, even a fatal one, is only logged.
        if (in_txn) {
          if (auto failed = session.Abort()) {
            log.Warn("abort transaction failed", {{"error", failed->what()}});
          }
        }
        throw;
      }
      ready = false;  // until a transaction commits again
      txn_since = 0;
      RestoreAll();
      const auto now = Clock::now();
      if (failing_since == Clock::time_point{}) failing_since = now;
      if (now - failing_since > opt.retry.budget) {
        log.Error("batches still failing past the retry budget; retrying until Kafka is back",
                  {{"since_s", std::chrono::duration_cast<std::chrono::seconds>(now - failing_since).count()}});
      }
      if (shutdown.WaitFor(backoff)) break;
      backoff = std::min(backoff * 2, opt.retry.max_backoff);
    }
    if (session.HasProducer()) session.Producer().Flush(session.KafkaTimeout());
    const SourceLoopStats s = Stats();
    log.Info(opt.stage_name + " stopping",
             {{"transactions", s.transactions}, {"records_in", s.records_in},
              {"records_out", s.records_out}, {"records_dlq", s.records_dlq}});
  }

  SourceLoopStats Stats() const {
    std::lock_guard lock(stats_mu);
    return stats;
  }
};

SourceLoop::SourceLoop(SourceLoopOptions options, std::vector<std::unique_ptr<Source>> sources,
                       SchemaSource& schemas, core::ShutdownToken shutdown, obs::Logger log,
                       obs::StandardMetrics* metrics, http::Server* http)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(sources), schemas,
                                   std::move(shutdown), std::move(log), metrics, http)) {}

SourceLoop::~SourceLoop() = default;

void SourceLoop::Run() {
  impl_->Start();
  impl_->Loop();
}

SourceLoopStats SourceLoop::Stats() const { return impl_->Stats(); }

}  // namespace sluice::runtime
