#include "csv_producer.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "dir_watcher.hpp"
#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/error.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/registry_schema_source.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::producer {
namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

// Provenance headers beyond sluice-origin / sluice-source-ts.
constexpr const char* kHeaderSourceName = "sluice-source";
constexpr const char* kHeaderSourceFile = "sluice-source-file";
constexpr const char* kHeaderSourceLine = "sluice-source-line";
constexpr const char* kHeaderSourceOffset = "sluice-source-offset";
const std::string kStageName(config::IdentityOf(config::Stage::kProducer).dlq_stage);

kafka::Config ToKafkaConfig(const std::map<std::string, std::string>& props) {
  kafka::Config c;
  for (const auto& [k, v] : props) c.Set(k, v);
  return c;
}

std::string ReadText(const fs::path& path, const std::string& what) {
  std::ifstream in(path);
  if (!in) throw core::ConfigError("cannot read " + what + " " + path.string());
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return (path.is_absolute() ? path : base / path).lexically_normal().string();
}

std::int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string KeyOf(const stages::Row& row, const std::vector<std::string>& fields) {
  std::string key;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) key += '|';
    const stages::Value& v = row.Get(fields[i]);
    if (const auto* s = std::get_if<std::string>(&v)) key += *s;
    else if (!stages::IsNull(v)) key += stages::Describe(v);
  }
  return key;
}

}  // namespace

ProducerOptions ProducerOptionsFromConfig(const config::PipelineConfig& config, bool once) {
  ProducerOptions o;
  const auto& topics = config.TopicNames();
  o.raw_topic = topics.raw;
  o.dlq_topic = topics.dlq;
  o.positions_topic = config.Name() + ".positions";
  const fs::path raw_path = config.SchemaPath("raw");
  if (raw_path.empty()) throw core::ConfigError("schemas.raw is not set in the pipeline file");
  try {
    o.raw_schema = avro::ParseSchema(ReadText(raw_path, "schema file"));
  } catch (const avro::SchemaParseError& e) {
    throw core::ConfigError(raw_path.string() + ": " + e.what());
  }
  const stages::RecordSpec raw_spec = stages::LoadRecordSpec(raw_path.string());

  config::View section = config.SectionView("producer");
  if (!section.Exists()) throw core::ConfigError(config.File().string() + ": no producer section");
  const fs::path base = config.File().parent_path();
  const YAML::Node id_node = section.Node()["id"];
  auto items = section.Items("sources");
  for (std::size_t i = 0; i < items.size(); ++i) {
    const YAML::Node node = items[i].Node();
    const std::string origin = config.File().string() + ": " + items[i].Path();
    const std::string type = node["type"] ? node["type"].Scalar() : "";
    if (type != "csv") {
      throw core::ConfigError(origin + ": source type '" + type +
                              "' is not supported by sluice-producer yet (csv only)");
    }
    CsvSourceOptions s;
    s.settings = stages::CsvSourceSettingsFromYaml(node, id_node, raw_spec, origin);
    if (!node["name"]) s.settings.name = "csv" + std::to_string(i);
    if (items[i].Has("path")) s.path = Resolve(base, items[i].String("path"));
    if (items[i].Has("dir")) s.dir = Resolve(base, items[i].String("dir"));
    if (items[i].Has("glob")) s.glob = items[i].String("glob");
    if (items[i].Has("watch")) s.watch = items[i].Bool("watch");
    if (items[i].Has("poll_interval")) s.poll_interval = items[i].Duration("poll_interval");
    for (const auto& other : o.sources) {
      if (other.settings.name == s.settings.name) {
        throw core::ConfigError(origin + ": two sources are named '" + s.settings.name + "'");
      }
    }
    o.sources.push_back(std::move(s));
  }
  o.key_fields = section.Strings("key");
  for (const auto& k : o.key_fields) {
    if (!raw_spec.Find(k)) throw core::ConfigError(config.File().string() + ": producer.key: '" + k + "' is not a field of the raw schema");
  }
  if (section.Has("batch_size")) o.batch_size = static_cast<std::size_t>(section.Int("batch_size"));
  if (section.Has("max_record_bytes")) {
    o.max_record_bytes = static_cast<std::size_t>(section.Int("max_record_bytes"));
  }
  for (CsvSourceOptions& s : o.sources) s.settings.csv.max_record_bytes = o.max_record_bytes;
  o.transactional_id = config.TransactionalId(config::Stage::kProducer);
  o.librdkafka = config.Librdkafka(config::Stage::kProducer);
  o.partitions = topics.partitions;
  o.replication = topics.replication;
  o.topic_configs = topics.configs;
  o.retry = runtime::RetryPolicy::FromConfig(config.SectionView("retry"));
  o.once = once;
  return o;
}

std::map<std::string, SourcePosition> ReadPositions(const std::map<std::string, std::string>& librdkafka,
                                                    const std::string& topic,
                                                    std::chrono::milliseconds timeout,
                                                    const obs::Logger& log) {
  kafka::Config cfg = ToKafkaConfig(librdkafka);
  // The reader never joins the group (assign, not subscribe) and never commits: the id only
  // satisfies librdkafka's consumer.
  std::random_device rd;
  cfg.Set("group.id", "sluice-producer-positions-reader-" + std::to_string(rd()));
  cfg.Set("isolation.level", "read_committed");
  cfg.Set("auto.offset.reset", "earliest");
  kafka::TopicReaderOptions ropt;
  ropt.timeout = timeout;
  kafka::TopicReader reader(cfg, topic, std::move(ropt));

  std::map<std::string, SourcePosition> out;
  std::size_t records = 0;
  // read_committed: the end is the last stable offset, so everything committed is read (the
  // zombie's open transaction was aborted by InitTransactions).
  try {
    reader.ReadToEnd(
        [&](const kafka::Message& m) {
          ++records;
          std::string key = m.key.value_or(std::string());
          if (!m.value) {
            out.erase(key);  // a tombstone: the position was deliberately forgotten
            return;
          }
          std::string why;
          auto pos = DecodePosition(*m.value, &why);
          if (pos) out[key] = *pos;
          else log.Warn("ignoring a malformed position record", {{"topic", topic}, {"key", key}, {"error", why}});
        },
        Clock::now() + timeout);
  } catch (const kafka::ReadDeadlineError& e) {
    throw core::InfraError("reading " + topic + " did not reach its end in time: " + e.what(),
                           core::Retry::kYes);
  } catch (const kafka::KafkaError& e) {
    throw core::InfraError("reading " + topic + ": " + e.what(), core::Retry::kYes);
  }
  reader.Close();
  log.Info("positions read", {{"topic", topic}, {"records", records}, {"files", out.size()}});
  return out;
}

bool TakeFlag(int& argc, char** argv, std::string_view flag) {
  bool found = false;
  int w = 1;
  for (int r = 1; r < argc; ++r) {
    if (flag == argv[r]) {
      found = true;
      continue;
    }
    argv[w++] = argv[r];
  }
  argc = w;
  argv[argc] = nullptr;
  return found;
}

struct CsvProducer::Impl {
  ProducerOptions opt;
  runtime::RowSerde serde;
  core::ShutdownToken shutdown;
  obs::Logger log;
  obs::StandardMetrics* metrics;
  http::Server* http;
  std::unique_ptr<kafka::Producer> producer;
  std::map<std::string, SourcePosition> positions;  // committed, by PositionKey
  std::atomic<bool> ready{false};
  mutable std::mutex stats_mu;
  ProducerStats stats;
  std::size_t dlq_limit = runtime::kNoDlqLimit;  // from the broker, in Start
  runtime::TroubleMemory trouble;  // when Kafka or the registry last failed
  std::atomic<bool> broker_ok{true};  // the last idle-time probe reached a broker

  Impl(ProducerOptions o, runtime::SchemaSource& schemas, core::ShutdownToken s, obs::Logger l,
       obs::StandardMetrics* m, http::Server* h)
      : opt(std::move(o)), serde(schemas), shutdown(std::move(s)), log(std::move(l)), metrics(m), http(h) {}

  std::chrono::milliseconds KafkaTimeout() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(opt.kafka_timeout);
  }

  void Start() {
    if (http) {
      http->AddReadinessCheck("producer", [this] {
        if (!broker_ok) return http::CheckResult{false, "the broker does not answer"};
        return ready ? http::CheckResult{true, ""} : http::CheckResult{false, "positions not read yet, or Kafka failing: no transaction committed since"};
      });
    }
    runtime::WithRetry(opt.retry, shutdown, log, "create topics", [&] {
      kafka::Admin admin(ToKafkaConfig(opt.librdkafka));
      admin.CreateTopics({{opt.raw_topic, opt.partitions, opt.replication, opt.topic_configs},
                          {opt.dlq_topic, opt.partitions, opt.replication, opt.topic_configs},
                          {opt.positions_topic, 1, opt.replication, {{"cleanup.policy", "compact"}}}},
                         KafkaTimeout());
    });
    std::int32_t id = runtime::WithRetry(opt.retry, shutdown, log, "register raw schema",
                                         [&] { return serde.RegisterOutput(opt.raw_topic, opt.raw_schema); });
    log.Info("raw schema registered", {{"subject", opt.raw_topic + "-value"}, {"id", id}});

    dlq_limit = runtime::WithRetry(opt.retry, shutdown, log, "DLQ topic limit", [&] {
      return runtime::DlqMessageLimit(opt.librdkafka, opt.dlq_topic, KafkaTimeout());
    });
    producer = MakeProducer();
    // Fences a previous instance with the same transactional.id and aborts its open
    // transaction, so the positions read next are exactly the committed ones.
    runtime::WithRetry(opt.retry, shutdown, log, "init transactions",
                       [&] { runtime::InitTransactions(*producer, KafkaTimeout()); });
    positions = runtime::WithRetry(opt.retry, shutdown, log, "read positions",
                                   [&] { return ReadPositions(opt.librdkafka, opt.positions_topic, KafkaTimeout(), log); });
    ready = true;
    log.Info("producer started", {{"raw", opt.raw_topic}, {"dlq", opt.dlq_topic},
                                  {"positions", opt.positions_topic},
                                  {"transactional_id", opt.transactional_id},
                                  {"sources", opt.sources.size()}, {"once", opt.once}});
  }

  std::unique_ptr<kafka::Producer> MakeProducer() const {
    kafka::Config pcfg = ToKafkaConfig(opt.librdkafka);
    pcfg.Set("transactional.id", opt.transactional_id);
    runtime::FitBatchesToDlq(pcfg, dlq_limit);
    return std::make_unique<kafka::Producer>(pcfg);
  }

  // Aborts the open transaction. Returns false when the abort itself failed (timed out while
  // the broker is away, or the producer is unusable): the producer must then be rebuilt, whose
  // InitTransactions aborts the transaction on the coordinator (a timed-out abort left as it is
  // makes every later begin_transaction fail).
  bool AbortQuietly(const std::string& why) {
    if (auto failed = producer->AbortTransactionBestEffort(KafkaTimeout())) {
      log.Warn("abort transaction failed; the producer will be rebuilt", {{"error", failed->what()}});
      return false;
    }
    std::lock_guard lock(stats_mu);
    ++stats.aborts;
    log.Warn("transaction aborted; the file resumes from its last committed position", {{"reason", why}});
    return true;
  }

  // A new transactional producer with the same transactional.id, initialised as long as the
  // broker takes to come back. Returns false when shutdown was requested.
  bool RebuildProducer(const std::string& why) {
    log.Error("rebuilding the Kafka producer", {{"reason", why}});
    ready = false;
    producer.reset();
    producer = MakeProducer();
    if (!runtime::RetryUntilShutdown(opt.retry, shutdown, log, "init transactions",
                                     [&] { runtime::InitTransactions(*producer, KafkaTimeout()); })) {
      return false;
    }
    std::lock_guard lock(stats_mu);
    ++stats.rebuilds;
    log.Info("Kafka producer rebuilt", {{"rebuilds", stats.rebuilds}});
    return true;
  }

  runtime::Record ProvenanceRecord(const CsvSourceOptions& src, const std::string& path,
                                   const stages::CsvPosition& at, std::int64_t now_ms) const {
    runtime::Record r;
    r.origin = runtime::Origin::File(path, static_cast<std::int64_t>(at.line));
    r.source_time = runtime::SourceTime(std::chrono::milliseconds(now_ms));
    r.headers = {{runtime::kHeaderOrigin, r.origin.ToString()},
                 {runtime::kHeaderSourceTs, std::to_string(now_ms)},
                 {kHeaderSourceName, src.settings.name},
                 {kHeaderSourceFile, fs::path(path).filename().string()},
                 {kHeaderSourceLine, std::to_string(at.line)},
                 {kHeaderSourceOffset, std::to_string(at.offset)}};
    return r;
  }

  // Sends one DLQ record for a source item inside the open transaction.
  void SendToDlq(runtime::Record record, const std::string& raw, const std::string& rule,
                 const std::string& reason) {
    record.value = raw;
    record.original = raw;
    producer->Produce(
        runtime::MakeDlqMessage(opt.dlq_topic, record, {kStageName, rule, reason}, dlq_limit));
    if (metrics) metrics->records_rejected.With({rule}).Inc();
  }

  // Reads the file from its committed position to the end, one transaction per batch.
  // Returns false when shutdown interrupted it (everything read so far is committed).
  // KafkaError propagates with the transaction left open (the caller aborts).
  bool IngestFrom(const CsvSourceOptions& src, const std::string& path, const std::string& key,
                  bool* in_txn) {
    SourcePosition pos = positions.at(key);
    stages::CsvSource source(src.settings, path);
    stages::CsvFileReader reader(path, src.settings.csv, {pos.byte_offset, pos.line});
    if (pos.byte_offset > 0 && src.settings.header) {
      source.UseHeader(stages::CsvSource::ReadHeader(path, src.settings.csv));
    }
    bool eof = false;
    while (!eof) {
      if (shutdown.Requested()) return false;
      auto t0 = Clock::now();
      const std::int64_t now_ms = NowMs();
      producer->BeginTransaction();
      *in_txn = true;
      SourcePosition next = pos;
      std::uint64_t in = 0, out = 0, dlq = 0;
      for (std::size_t n = 0; n < opt.batch_size;) {
        auto item = reader.Next();
        if (!item) {
          eof = true;
          break;
        }
        ++n;
        runtime::Record prov = ProvenanceRecord(src, path, item->start, now_ms);
        stages::SourceRecord r;
        try {
          r = source.Accept(*item);
        } catch (const core::ConfigError& e) {
          // The header does not fit the schema: no row of this file can be read. The header
          // line goes to the DLQ with the reason and the file is finished.
          SendToDlq(std::move(prov), item->raw, "header", e.what());
          ++dlq;
          log.Error("file header does not match the raw schema; file skipped", {{"file", path}, {"error", e.what()}});
          next.byte_offset = item->next.offset;
          next.line = item->next.line;
          eof = true;
          break;
        }
        next.byte_offset = r.next.offset;
        next.line = r.next.line;
        if (r.verdict == stages::SourceVerdict::kHeader) continue;
        ++in;
        if (r.verdict == stages::SourceVerdict::kReject) {
          SendToDlq(std::move(prov), r.raw, r.rule, r.reason);
          ++dlq;
          continue;
        }
        auto bytes = serde.Encode(opt.raw_topic, r.row);
        if (!bytes) {
          SendToDlq(std::move(prov), r.raw, runtime::kRuleUnencodable, bytes.error);
          ++dlq;
          continue;
        }
        if (bytes.value->size() > opt.max_record_bytes) {
          SendToDlq(std::move(prov), r.raw, runtime::kRuleTooLarge,
                    "encoded row of " + std::to_string(bytes.value->size()) +
                        " bytes is larger than max_record_bytes (" +
                        std::to_string(opt.max_record_bytes) + ")");
          ++dlq;
          continue;
        }
        kafka::Message m;
        m.topic = opt.raw_topic;
        const std::string k = KeyOf(r.row, opt.key_fields);
        if (!k.empty()) m.key = k;
        m.value = std::move(*bytes.value);
        m.headers = runtime::ToKafkaHeaders(prov.headers);
        producer->Produce(m);
        ++out;
      }
      next.done = eof;
      next.records += out;
      next.rejected += dlq;
      kafka::Message pm;
      pm.topic = opt.positions_topic;
      pm.partition = 0;
      pm.key = key;
      pm.value = EncodePosition(next);
      producer->Produce(pm);
      runtime::CommitTransactionWithRetry(*producer, KafkaTimeout(), opt.retry.budget, log);
      *in_txn = false;
      ready = true;
      pos = next;
      positions[key] = next;
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      if (metrics) {
        metrics->records_in.Inc(static_cast<double>(in));
        metrics->records_out.Inc(static_cast<double>(out));
        metrics->batch_seconds.Observe(secs);
      }
      std::lock_guard lock(stats_mu);
      ++stats.transactions;
      stats.records_out += out;
      stats.records_dlq += dlq;
    }
    std::lock_guard lock(stats_mu);
    ++stats.files_done;
    log.Info("file ingested", {{"file", path}, {"identity", pos.identity}, {"records", pos.records},
                               {"rejected", pos.rejected}, {"lines", pos.line - 1}});
    return true;
  }

  // Ingests one file, resuming from its committed position. Returns true when the file is
  // finished (now or before: same identity already done), false when interrupted or gone.
  bool IngestFile(const CsvSourceOptions& src, const std::string& path) {
    std::string identity;
    try {
      identity = ComputeFileIdentity(path);
    } catch (const core::InfraError& e) {
      log.Warn("source file unreadable; will look again", {{"file", path}, {"error", e.what()}});
      return false;
    }
    const std::string key = PositionKey(src.settings.name, identity);
    auto it = positions.find(key);
    if (it == positions.end()) {
      SourcePosition fresh;
      fresh.source = src.settings.name;
      fresh.file = path;
      fresh.identity = identity;
      it = positions.emplace(key, fresh).first;
    } else if (it->second.done) {
      log.Info("file already ingested (same content); nothing to do",
               {{"file", path}, {"identity", identity}, {"first_read_as", it->second.file}});
      std::lock_guard lock(stats_mu);
      ++stats.files_skipped;
      return true;
    } else {
      log.Info("resuming file", {{"file", path}, {"identity", identity},
                                 {"line", it->second.line}, {"byte_offset", it->second.byte_offset}});
    }
    it->second.file = path;
    // Infrastructure failures never end the ingest: the transaction is aborted (or, when that
    // fails too, the producer rebuilt) and the file resumes from its last committed position,
    // with backoff, for as long as the outage lasts. A fenced producer exits only when nothing
    // went wrong before (another live instance with our transactional.id).
    const auto started = Clock::now();
    core::Duration backoff = opt.retry.initial_backoff;
    for (;;) {
      bool in_txn = false;
      std::string rebuild;
      try {
        return IngestFrom(src, path, key, &in_txn);
      } catch (const kafka::KafkaError& e) {
        if (trouble.FencedByTwin(e)) {
          throw core::FencedError(e.what());
        }
        if (!e.IsFenced()) trouble.Note();  // a fence is not trouble: see TroubleMemory
        if (e.IsFatal() || (in_txn && !AbortQuietly(e.what()))) rebuild = e.what();
        log.Warn("ingest interrupted by a Kafka error; retrying", {{"file", path}, {"error", e.what()}});
      } catch (const core::InfraError& e) {
        if (!e.Retryable()) {
          if (in_txn) (void)producer->AbortTransactionBestEffort(KafkaTimeout());
          throw;
        }
        trouble.Note();
        if (in_txn && !AbortQuietly(e.what())) rebuild = e.what();
        log.Warn("ingest interrupted by an infrastructure error; retrying",
                 {{"file", path}, {"error", e.what()}});
      } catch (...) {
        // That error is the one to report, so a failed abort, even a fatal one, is only logged.
        if (in_txn) {
          if (auto failed = producer->AbortTransactionBestEffort(KafkaTimeout())) {
            log.Warn("abort transaction failed", {{"error", failed->what()}});
          }
        }
        throw;
      }
      ready = false;  // until a transaction commits again
      if (!rebuild.empty() && !RebuildProducer(rebuild)) return false;
      if (Clock::now() - started > opt.retry.budget) {
        log.Error("ingest still failing past the retry budget; retrying until Kafka is back",
                  {{"file", path}, {"since_s", std::chrono::duration_cast<std::chrono::seconds>(
                                                   Clock::now() - started).count()}});
      }
      if (shutdown.WaitFor(backoff)) return false;
      backoff = std::min(backoff * 2, opt.retry.max_backoff);
    }
  }

  void Loop() {
    std::vector<DirWatcher> watchers;
    std::vector<bool> single_done(opt.sources.size(), false);
    bool keep_watching = false;
    core::Duration poll = opt.sources.empty() ? core::Duration(1000) : opt.sources[0].poll_interval;
    for (const auto& s : opt.sources) {
      const bool watching = !opt.once && s.watch && !s.dir.empty();
      watchers.emplace_back(/*require_stable=*/watching);
      keep_watching = keep_watching || watching;
      poll = std::min(poll, s.poll_interval);
    }
    while (!shutdown.Requested()) {
      for (std::size_t i = 0; i < opt.sources.size() && !shutdown.Requested(); ++i) {
        const auto& src = opt.sources[i];
        if (!src.path.empty()) {
          if (!single_done[i]) single_done[i] = IngestFile(src, src.path) || opt.once;
          continue;
        }
        std::vector<FileStat> scan;
        try {
          scan = ListDirectory(src.dir, src.glob);
        } catch (const core::InfraError& e) {
          if (opt.once || !src.watch) throw core::InfraError(e.what(), core::Retry::kNo);
          log.Warn("cannot list the watched directory; will retry", {{"dir", src.dir}, {"error", e.what()}});
          continue;
        }
        for (const auto& f : watchers[i].Observe(scan)) {
          if (shutdown.Requested()) break;
          if (IngestFile(src, f.path)) watchers[i].MarkTaken(f);
        }
      }
      if (!keep_watching) break;
      // Idle between scans: ask a broker for real, so readiness notices one that went away.
      broker_ok = producer->BrokerReachable(std::chrono::milliseconds(1000));
      shutdown.WaitFor(poll);
    }
    if (producer) producer->Flush(KafkaTimeout());
    ProducerStats s = Stats();
    log.Info("producer stopping", {{"transactions", s.transactions}, {"records_out", s.records_out},
                                   {"records_dlq", s.records_dlq}, {"files_done", s.files_done},
                                   {"files_skipped", s.files_skipped}});
  }

  ProducerStats Stats() const {
    std::lock_guard lock(stats_mu);
    return stats;
  }
};

CsvProducer::CsvProducer(ProducerOptions options, runtime::SchemaSource& schemas,
                         core::ShutdownToken shutdown, obs::Logger log, obs::StandardMetrics* metrics,
                         http::Server* http)
    : impl_(std::make_unique<Impl>(std::move(options), schemas, std::move(shutdown), std::move(log),
                                   metrics, http)) {}

CsvProducer::~CsvProducer() = default;

void CsvProducer::Run() {
  impl_->Start();
  impl_->Loop();
}

ProducerStats CsvProducer::Stats() const { return impl_->Stats(); }

void RunProducerDaemon(runtime::DaemonContext& ctx, bool once) {
  runtime::RegistrySchemaSource schemas(ctx.config.Endpoint());
  CsvProducer producer(ProducerOptionsFromConfig(ctx.config, once), schemas, ctx.shutdown, ctx.log,
                       &ctx.standard, &ctx.http);
  producer.Run();
}

}  // namespace sluice::producer
