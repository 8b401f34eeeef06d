// The kafka_json plug-in against the real broker (the test plays the source loop, committing or
// aborting each batch): every message once across aborts and restarts, in each partition's
// order; bad JSON, a record that does not fit and a tombstone to the DLQ with their
// topic/partition@offset; nothing is ever written to the source topic.
#include <catch2/catch.hpp>

#include <set>

#include <nlohmann/json.hpp>

#include "../kafka/kafka_test_support.hpp"
#include "kafka_json_source.hpp"

using namespace sluice;
using namespace sluice::kafka::testing;
using producer::KafkaJsonSource;
using producer::KafkaJsonSourceOptions;
using runtime::PollStatus;
using runtime::SourceBatch;

namespace {

kafka::Message Json(const std::string& topic, int partition, const std::optional<std::string>& value) {
  kafka::Message m;
  m.topic = topic;
  m.partition = partition;
  m.key = kafka::Bytes{'k'};
  if (value) m.value = kafka::Bytes(value->begin(), value->end());
  return m;
}

std::string Event(int i) {
  return nlohmann::json{{"event_id", "e" + std::to_string(i)}, {"unit_id", "U" + std::to_string(i % 3)},
                        {"position", {{"lat", 47.0 + i}, {"lon", -122.0}}}, {"speed_kmh", 10 * i}}
      .dump();
}

KafkaJsonSourceOptions Options(const std::string& topic) {
  KafkaJsonSourceOptions o;
  o.settings.name = "locations";
  o.settings.topic = topic;
  o.settings.fields = {{"lat", "position.lat"}, {"lon", "position.lon"}};
  o.raw = stages::RecordSpecFromAvsc(nlohmann::json::parse(R"({"type":"record","name":"E","fields":[
    {"name":"event_id","type":"string"},{"name":"unit_id","type":"string"},
    {"name":"lat","type":"double"},{"name":"lon","type":"double"},
    {"name":"speed_kmh","type":["null","double"],"default":null}]})"),
                                     "test");
  o.key_fields = {"unit_id"};
  o.librdkafka = {{"bootstrap.servers", Brokers()}};
  o.timeout = std::chrono::milliseconds(20'000);
  return o;
}

struct Loop {
  KafkaJsonSource& source;
  std::map<std::string, std::string> committed;
  std::vector<runtime::SourceItem> items;

  // Polls until `n` more items are committed (aborting every third batch), or the bound passes.
  void Take(std::size_t n) {
    const auto until = std::chrono::steady_clock::now() + kWaitBound;
    const std::size_t want = items.size() + n;
    int batch_no = 0;
    while (items.size() < want && std::chrono::steady_clock::now() < until) {
      SourceBatch batch;
      if (source.Poll(batch, 4) != PollStatus::kBatch) continue;
      if (++batch_no % 3 == 0) {
        source.Restore(committed);
        continue;
      }
      for (auto& it : batch.items) items.push_back(std::move(it));
      for (auto& [k, v] : batch.positions) committed[k] = v;
      source.Committed();
    }
  }
};

}  // namespace

TEST_CASE("kafka_json: every message once, bad ones to the DLQ with topic, partition and offset") {
  const std::string topic = UniqueName("json-source");
  TopicsGuard topics({{topic, 2, 1, {}}});
  {
    kafka::Producer p(BaseConfig());
    for (int i = 0; i < 10; ++i) p.Produce(Json(topic, i % 2, Event(i)));
    p.Produce(Json(topic, 0, std::string("{\"event_id\": \"trunc")));             // not JSON
    p.Produce(Json(topic, 1, std::string(R"({"event_id":"e99","unit_id":"U1"})")));  // no position
    p.Produce(Json(topic, 1, std::nullopt));                                        // a tombstone
    p.Flush(kWaitBound);
    REQUIRE(p.TakeDeliveryFailures().empty());
  }
  KafkaJsonSource source(Options(topic), obs::Logger("test"));
  source.Restore({});
  Loop loop{source};
  loop.Take(13);
  REQUIRE(loop.items.size() == 13);
  std::set<std::string> events;
  std::vector<std::string> rejects;
  for (const auto& it : loop.items) {
    if (it.outcome.IsEmit()) {
      CHECK(events.insert(std::get<std::string>(it.record.Row().Get("event_id"))).second);
      CHECK(it.record.key.rfind("U", 0) == 0);
      CHECK(it.record.FindHeader("sluice-origin")->rfind(topic + "/", 0) == 0);
    } else {
      CHECK(it.outcome.DlqRule() == "json_message");
      rejects.push_back(it.outcome.DlqReason());
    }
  }
  CHECK(events.size() == 10);
  REQUIRE(rejects.size() == 3);
  std::sort(rejects.begin(), rejects.end());
  CHECK_THAT(rejects[0], Catch::StartsWith(topic + "/0@5: not JSON: "));
  CHECK(rejects[1] == topic + "/1@5: field 'lat' (position.lat): missing (required)");
  CHECK(rejects[2] == topic + "/1@6: empty message (a tombstone)");
  CHECK(loop.committed == std::map<std::string, std::string>{{"p0", "6"}, {"p1", "7"}});

  // A restart from the committed positions reads only what is new.
  {
    kafka::Producer p(BaseConfig());
    p.Produce(Json(topic, 1, Event(20)));
    p.Flush(kWaitBound);
  }
  KafkaJsonSource again(Options(topic), obs::Logger("test"));
  again.Restore(loop.committed);
  Loop next{again, loop.committed};
  next.Take(1);
  REQUIRE(next.items.size() == 1);
  CHECK(std::get<std::string>(next.items[0].record.Row().Get("event_id")) == "e20");
  // Nothing was written to the source topic by the source: 2 partitions, 6 + 8 messages.
  kafka::Admin admin(BaseConfig());
  kafka::TopicReader reader(BaseConfig(), topic);
  std::size_t n = 0;
  reader.ReadToEnd([&](const kafka::Message&) { ++n; }, std::chrono::steady_clock::now() + kWaitBound);
  CHECK(n == 14);
}
