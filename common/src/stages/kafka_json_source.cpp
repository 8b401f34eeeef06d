#include "sluice/stages/kafka_json_source.hpp"

#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::stages {

void DeclareKafkaJsonSource(config::Section& s) {
  using T = config::OptionType;
  s.Add("name", T::kString).Describe("Source name in provenance headers and positions; defaults to the type and index (kafka_json0)").Example("locations");
  s.Add("topic", T::kString).Required().Describe("The topic of JSON messages to read (on the pipeline's brokers; never written)").Example("fleet.locations.json");
  s.Add("fields", T::kMap).Default("{}").Describe("Raw field -> JSON path in the message; other fields are read by name").Example("{lat: position.lat, lon: position.lon}");
  s.Add("start", T::kEnum).Allowed({"earliest", "latest"}).Default("earliest").Describe("Where a partition without a committed position starts").Example("latest");
}

const std::vector<std::string>& KafkaJsonSourceExamples() {
  static const std::vector<std::string> examples = {
      "{name: locations, topic: fleet.locations.json, fields: {a: position.lat}, start: latest}",
  };
  return examples;
}

std::shared_ptr<SourceSettings> MakeKafkaJsonSource(const ComponentInput& in, const RecordSpec& raw,
                                                    const config::View& id) {
  auto s = std::make_shared<KafkaJsonSourceSettings>();
  const config::View& o = in.options;
  s->name = o.OptionalString("name").value_or("kafka_json" + std::to_string(in.index));
  s->topic = o.String("topic");
  s->fields = o.StringMap("fields");
  s->from_beginning = o.String("start") == "earliest";
  CheckJsonSourceFields(in, raw, s->fields, id, "a kafka_json source");
  return s;
}

HttpRecord ReadJsonMessage(const JsonRowMapper& mapper, const std::optional<std::string>& value,
                           const std::string& where) {
  HttpRecord r;
  if (!value || value->empty()) {
    r.original = value.value_or("");
    r.outcome = Outcome::Reject(DlqCode::kJsonMessage, where + ": empty message" + (value ? "" : " (a tombstone)"));
    return r;
  }
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(*value);
  } catch (const nlohmann::json::parse_error& e) {
    r.original = *value;
    r.outcome = Outcome::Reject(DlqCode::kJsonMessage, where + ": not JSON: " + e.what());
    return r;
  }
  r = mapper.Map(doc, doc);
  r.original = *value;  // the bytes as read, not the re-serialized JSON
  if (!r.outcome.IsEmit()) {
    r.outcome = Outcome::Reject(DlqCode::kJsonMessage, where + ": " + r.outcome.DlqReason());
  }
  return r;
}

}  // namespace sluice::stages
