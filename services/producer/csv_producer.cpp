#include "csv_producer.hpp"

#include <cstdlib>
#include <filesystem>
#include <utility>

#include "sluice/config/stage_identity.hpp"
#include "sluice/core/error.hpp"
#include "sluice/runtime/registry_schema_source.hpp"

namespace sluice::producer {
namespace {

namespace fs = std::filesystem;

const std::string kStageName(config::IdentityOf(config::Stage::kProducer).dlq_stage);

std::string Resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return (path.is_absolute() ? path : base / path).lexically_normal().string();
}

}  // namespace

ProducerOptions ProducerOptionsFromConfig(const pipeline::PipelineConfig& config, bool once) {
  ProducerOptions result;
  runtime::SourceLoopOptions& o = result.loop;
  o.stage_name = kStageName;
  const auto& topics = config.TopicNames();
  o.output_topic = topics.raw;
  o.dlq_topic = topics.dlq;
  o.positions_topic = config.Name() + ".positions";
  o.output_schema = config.LoadSchema("raw");
  const stages::RecordSpec raw_spec = stages::LoadRecordSpec(config.SchemaPath("raw").string());

  config::View section = config.SectionView("producer");
  if (!section.Exists()) throw core::ConfigError(config.File().string() + ": no producer section");
  const fs::path base = config.File().parent_path();
  const auto sources = stages::SourceTypes().Build(section.Child("sources").Node(),
                                                   config.File().string() + ": producer.sources",
                                                   raw_spec, section.Child("id"));
  for (const auto& source : sources) {
    // Each source type has its plug-in here.
    if (const auto* csv = dynamic_cast<const stages::CsvSourceSettings*>(source.get())) {
      CsvSourceOptions s;
      s.settings = *csv;
      if (!csv->path.empty()) s.settings.path = Resolve(base, csv->path);
      if (!csv->dir.empty()) s.settings.dir = Resolve(base, csv->dir);
      result.sources.emplace_back(std::move(s));
    } else if (const auto* api = dynamic_cast<const stages::HttpSourceSettings*>(source.get())) {
      HttpApiSourceOptions s;
      s.settings = *api;
      s.raw = raw_spec;
      result.sources.emplace_back(std::move(s));
    } else if (const auto* topic = dynamic_cast<const stages::KafkaJsonSourceSettings*>(source.get())) {
      // The source only reads its topic: one the pipeline writes itself would feed on its own output.
      for (const std::string& own : {topics.raw, topics.clean, topics.enriched, topics.dlq, o.positions_topic}) {
        if (topic->topic == own) {
          throw core::ConfigError(config.File().string() + ": producer.sources: kafka_json topic '" + own +
                                  "' is one this pipeline writes (raw, clean, enriched, dlq or <pipeline>.positions); "
                                  "read another team's topic");
        }
      }
      KafkaJsonSourceOptions s;
      s.settings = *topic;
      s.raw = raw_spec;
      result.sources.emplace_back(std::move(s));
    } else if (const auto* cdc = dynamic_cast<const stages::PgCdcSourceSettings*>(source.get())) {
      PgCdcSourceOptions s;
      s.settings = *cdc;
      s.raw = raw_spec;
      result.sources.emplace_back(std::move(s));
    } else if (const auto* table = dynamic_cast<const stages::PgSourceSettings*>(source.get())) {
      PgTableSourceOptions s;
      s.settings = *table;
      s.raw = raw_spec;
      result.sources.emplace_back(std::move(s));
    } else {
      SLUICE_ASSERT(false, "a source type without a plug-in");
    }
  }
  const std::vector<std::string> key_fields = section.Strings("key");
  for (const auto& k : key_fields) {
    if (!raw_spec.Find(k)) throw core::ConfigError(config.File().string() + ": producer.key: '" + k + "' is not a field of the raw schema");
  }
  if (section.Has("batch_size")) o.batch_size = static_cast<std::size_t>(section.Int("batch_size"));
  if (section.Has("max_record_bytes")) {
    o.max_record_bytes = static_cast<std::size_t>(section.Int("max_record_bytes"));
  }
  o.retry = runtime::RetryPolicy::FromConfig(config.SectionView("retry"));
  for (auto& source : result.sources) {
    if (auto* csv = std::get_if<CsvSourceOptions>(&source)) {
      csv->settings.csv.max_record_bytes = o.max_record_bytes;
      csv->key_fields = key_fields;
      csv->once = once;
    } else if (auto* topic = std::get_if<KafkaJsonSourceOptions>(&source)) {
      topic->key_fields = key_fields;
      topic->once = once;
    } else if (auto* cdc = std::get_if<PgCdcSourceOptions>(&source)) {
      cdc->key_fields = key_fields;
      cdc->once = once;
    } else if (auto* table = std::get_if<PgTableSourceOptions>(&source)) {
      table->key_fields = key_fields;
      table->once = once;
    } else {
      auto& api = std::get<HttpApiSourceOptions>(source);
      api.key_fields = key_fields;
      api.once = once;
      api.retry = o.retry;
      api.max_dlq_bytes = o.max_record_bytes;
    }
  }
  o.transactional_id = config.TransactionalId(config::Stage::kProducer);
  o.librdkafka = config.Librdkafka(config::Stage::kProducer);
  for (auto& source : result.sources) {
    if (auto* topic = std::get_if<KafkaJsonSourceOptions>(&source)) {
      topic->librdkafka = o.librdkafka;
      topic->timeout = o.kafka_timeout;
    }
  }
  o.partitions = topics.partitions;
  o.replication = topics.replication;
  o.topic_configs = topics.configs;
  return result;
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

std::vector<std::unique_ptr<runtime::Source>> MakeSources(const ProducerOptions& options,
                                                          const obs::Logger& log) {
  std::vector<std::unique_ptr<runtime::Source>> sources;
  for (const auto& s : options.sources) {
    if (const auto* csv = std::get_if<CsvSourceOptions>(&s)) {
      sources.push_back(std::make_unique<CsvFileSource>(*csv, log));
    } else if (const auto* topic = std::get_if<KafkaJsonSourceOptions>(&s)) {
      sources.push_back(std::make_unique<KafkaJsonSource>(*topic, log));
    } else if (const auto* cdc = std::get_if<PgCdcSourceOptions>(&s)) {
      sources.push_back(std::make_unique<PgCdcSource>(*cdc, log));
    } else if (const auto* table = std::get_if<PgTableSourceOptions>(&s)) {
      sources.push_back(std::make_unique<PgTableSource>(*table, log));
    } else {
      sources.push_back(std::make_unique<HttpApiSource>(std::get<HttpApiSourceOptions>(s), log));
    }
  }
  return sources;
}

void RunProducerDaemon(runtime::DaemonContext& ctx, bool once) {
  runtime::RegistrySchemaSource schemas(ctx.config.Endpoint());
  ProducerOptions options = ProducerOptionsFromConfig(ctx.config, once);
  runtime::SourceLoop loop(options.loop, MakeSources(options, ctx.log), schemas, ctx.shutdown,
                           ctx.log, &ctx.standard, &ctx.http);
  loop.Run();
}

}  // namespace sluice::producer
