#pragma once
// The kafka_json source type: a topic of JSON messages written by another team, one record per
// message, mapped onto the raw schema with the type checks of the http source
// (JsonRowMapper). Settings and the pure per-message logic; the plug-in that reads the topic is
// producer::KafkaJsonSource.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sluice/config/spec.hpp"
#include "sluice/stages/component.hpp"
#include "sluice/stages/csv_source.hpp"
#include "sluice/stages/http_source.hpp"

namespace sluice::stages {

struct KafkaJsonSourceSettings : SourceSettings {
  std::string topic;                          // the external topic (read only, never written)
  std::map<std::string, std::string> fields;  // raw field -> JSON path in the message
  bool from_beginning = true;                 // start: earliest (else latest) without a position
};

void DeclareKafkaJsonSource(config::Section& s);
const std::vector<std::string>& KafkaJsonSourceExamples();
std::shared_ptr<SourceSettings> MakeKafkaJsonSource(const ComponentInput& in, const RecordSpec& raw,
                                                    const config::View& id);

// One message: a row, or a reject (kJsonMessage) whose reason starts with "<topic>/<p>@<o>: ".
// `value` nullopt is a tombstone.
HttpRecord ReadJsonMessage(const JsonRowMapper& mapper, const std::optional<std::string>& value,
                           const std::string& where);

}  // namespace sluice::stages
