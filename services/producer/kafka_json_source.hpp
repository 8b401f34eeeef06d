#pragma once
// The kafka_json source plug-in of the source loop (runtime::SourceLoop): reads another team's
// topic of JSON messages (kafka::TopicReader: assigned partitions, no consumer group, nothing
// committed to the topic, read_committed), one record per message mapped onto the raw schema
// (stages::ReadJsonMessage). It never writes to the topic.
//
// Position: one per partition (key "p<partition>", value the next offset), written in the same
// Kafka transaction as the rows and DLQ records, so a restart or an aborted batch resumes at the
// first message not committed: each message once. The partitions are those the topic has when
// the source starts (or after an abort); a partition added later is read after a restart.
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/kafka/topic_reader.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "sluice/stages/kafka_json_source.hpp"

namespace sluice::producer {

struct KafkaJsonSourceOptions {
  stages::KafkaJsonSourceSettings settings;
  stages::RecordSpec raw;
  std::vector<std::string> key_fields;             // producer.key: values joined with '|'
  std::map<std::string, std::string> librdkafka;   // the pipeline's brokers and settings
  bool once = false;                               // read to the ends at start, then finish
  core::Duration timeout{30'000};                  // metadata and watermark requests
};

class KafkaJsonSource : public runtime::Source {
 public:
  KafkaJsonSource(KafkaJsonSourceOptions options, obs::Logger log);
  ~KafkaJsonSource() override;

  const std::string& Name() const override { return opt_.settings.name; }
  void Restore(const std::map<std::string, std::string>& committed) override;
  runtime::PollStatus Poll(runtime::SourceBatch& batch, std::size_t max) override;
  void Committed() override;
  core::Duration PollInterval() const override { return core::Duration(50); }

 private:
  KafkaJsonSourceOptions opt_;
  obs::Logger log_;
  stages::JsonRowMapper mapper_;
  std::optional<kafka::TopicReader> reader_;
  std::map<std::string, std::string> committed_;  // "p<N>" -> next offset
  std::map<std::string, std::string> pos_;        // after what was handed to the loop
};

}  // namespace sluice::producer
