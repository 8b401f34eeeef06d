#pragma once
// sluice-producer, the source daemon: the runtime::SourceLoop hosting one plug-in per entry of
// producer.sources (CsvFileSource, HttpApiSource, KafkaJsonSource, PgCdcSource, PgTableSource), writing <p>.raw exactly once
// (docs/architecture.md, "Delivery guarantees"). Per transaction: a batch of rows to the raw
// topic, malformed items to the DLQ, and the source's position after them to the compacted
// positions topic, so a restart resumes exactly where the last committed transaction ended.
// See README.md for the design (file identity, completeness of watched files, fencing).
#include <memory>
#include <string_view>
#include <variant>
#include <vector>

#include "csv_file_source.hpp"
#include "http_api_source.hpp"
#include "kafka_json_source.hpp"
#include "pg_cdc_source.hpp"
#include "pg_table_source.hpp"
#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/runtime/daemon.hpp"
#include "sluice/runtime/source_loop.hpp"

namespace sluice::producer {

// Everything the producer needs: the source loop's options and one plug-in per source, in
// the order of the pipeline file.
struct ProducerOptions {
  runtime::SourceLoopOptions loop;
  std::vector<std::variant<CsvSourceOptions, HttpApiSourceOptions, KafkaJsonSourceOptions, PgCdcSourceOptions,
                           PgTableSourceOptions>> sources;
};

// Reads the pipeline file: topics (positions topic "<pipeline>.positions"), raw schema,
// producer.sources (csv, http, kafka_json, postgres_cdc, postgres), key, id, batch_size, retry; transactional.id
// "sluice-producer-<pipeline>-<SLUICE_INSTANCE_ID or 0>". Throws core::ConfigError.
ProducerOptions ProducerOptionsFromConfig(const pipeline::PipelineConfig& config, bool once);

// One plug-in (CsvFileSource, HttpApiSource, KafkaJsonSource, PgCdcSource, PgTableSource) per entry of `options.sources`.
std::vector<std::unique_ptr<runtime::Source>> MakeSources(const ProducerOptions& options,
                                                          const obs::Logger& log);

// Removes every `flag` argument from argv (adjusting argc); true when there was one. Lets the
// main accept `--once` before handing the command line to RunDaemon.
bool TakeFlag(int& argc, char** argv, std::string_view flag);

// The daemon glue: options from ctx.config, the registry as SchemaSource, metrics, readiness.
void RunProducerDaemon(runtime::DaemonContext& ctx, bool once);

}  // namespace sluice::producer
