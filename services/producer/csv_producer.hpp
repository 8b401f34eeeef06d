#pragma once
// The sluice-producer loop for CSV sources: files -> <p>.raw, exactly once (docs/architecture.md,
// "Delivery guarantees"). Per transaction: a batch of rows to the raw topic, malformed rows to the
// DLQ, and ONE position record (source, file identity, byte offset, line, done) to the compacted
// positions topic, so a restart resumes exactly where the last committed transaction ended.
// See README.md for the design (file identity, completeness of watched files, fencing).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/avro/schema.hpp"
#include "sluice/config/pipeline_config.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/core/shutdown.hpp"
#include "sluice/http/server.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/obs/metrics.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/stages/csv_source.hpp"
#include "source_position.hpp"

namespace sluice::producer {

// One csv entry of producer.sources, paths resolved against the pipeline file.
struct CsvSourceOptions {
  stages::CsvSourceSettings settings;  // name, CSV dialect, header mapping, id derivation
  std::string path;                    // one file, or
  std::string dir;                     // a directory of files matching glob
  std::string glob = "*.csv";
  bool watch = false;                  // keep scanning dir for new files
  core::Duration poll_interval{1000};
};

// Everything the producer needs, explicit so tests can run it in-process.
struct ProducerOptions {
  std::string raw_topic, dlq_topic, positions_topic;
  avro::Schema raw_schema;  // registered as "<raw_topic>-value"
  std::vector<CsvSourceOptions> sources;
  std::vector<std::string> key_fields;  // producer.key: values joined with '|'
  std::string transactional_id;
  std::map<std::string, std::string> librdkafka;  // bootstrap.servers included
  std::size_t batch_size = 1000;                  // items per transaction
  // A longer CSV record, or a larger encoded row, is dead-lettered as too_large.
  std::size_t max_record_bytes = 921'600;
  int partitions = 1;
  int replication = 1;
  std::map<std::string, std::string> topic_configs;
  core::Duration kafka_timeout{30'000};
  runtime::RetryPolicy retry;
  bool once = false;  // ingest what is there, then return (even for watched dirs)
};

// Reads the pipeline file: topics (positions topic "<pipeline>.positions"), raw schema,
// producer.sources (csv only), key, id, batch_size, retry; transactional.id
// "sluice-producer-<pipeline>-<SLUICE_INSTANCE_ID or 0>". Throws core::ConfigError.
ProducerOptions ProducerOptionsFromConfig(const config::PipelineConfig& config, bool once);

// Counters for tests and logs.
struct ProducerStats {
  std::uint64_t transactions = 0;
  std::uint64_t records_out = 0;    // rows committed to the raw topic
  std::uint64_t records_dlq = 0;    // items committed to the DLQ
  std::uint64_t files_done = 0;     // files finished in this run
  std::uint64_t files_skipped = 0;  // files whose identity was already done
  std::uint64_t rebuilds = 0;       // producers rebuilt in-process after an outage
  std::uint64_t aborts = 0;
};

// Runs the sources until shutdown (watch mode) or until every source is read (once mode, or
// no watched dir). Construct once, Run once. Single-threaded, except the readiness check and
// Stats(), which are thread-safe.
class CsvProducer {
 public:
  // `metrics` and `http` may be null. `schemas` must outlive the producer.
  CsvProducer(ProducerOptions options, runtime::SchemaSource& schemas, core::ShutdownToken shutdown,
              obs::Logger log, obs::StandardMetrics* metrics = nullptr, http::Server* http = nullptr);
  ~CsvProducer();
  CsvProducer(const CsvProducer&) = delete;
  CsvProducer& operator=(const CsvProducer&) = delete;

  // Creates topics, registers the raw schema, initialises transactions (fencing a zombie with
  // the same transactional.id), reads the committed positions, then ingests. Throws
  // core::InfraError (kNo when fatal or out of retry budget).
  void Run();
  ProducerStats Stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Reads every committed position record of `topic` (read_committed, from the beginning to the
// end), last record per key winning. Throws core::InfraError (kYes) on timeout.
std::map<std::string, SourcePosition> ReadPositions(const std::map<std::string, std::string>& librdkafka,
                                                    const std::string& topic,
                                                    std::chrono::milliseconds timeout,
                                                    const obs::Logger& log);

// Removes every `flag` argument from argv (adjusting argc); true when there was one. Lets the
// main accept `--once` before handing the command line to RunDaemon.
bool TakeFlag(int& argc, char** argv, std::string_view flag);

// The daemon glue: options from ctx.config, the registry as SchemaSource, metrics, readiness.
void RunProducerDaemon(runtime::DaemonContext& ctx, bool once);

}  // namespace sluice::producer
