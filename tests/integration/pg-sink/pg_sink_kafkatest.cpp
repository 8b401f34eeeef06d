// PgSink against the real local stack (Kafka + PostgreSQL). Writer schemas come from an
// in-process InMemorySchemaSource (the sink reads schemas through the SchemaSource interface;
// the registry daemon is tested on its own). Every test uses its own topics, table and group.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "pg_sink.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/stage.hpp"
#include "support/stack_env.hpp"

namespace {

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::RandomSuffix;
using sluice::testing::RequireEnv;

const char* kV1 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null}]})";
const char* kV2 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null},
  {"name":"region","type":"string","default":"unknown"}]})";

// One test's world: topics, table, schema source, helpers to produce and to query.
struct World {
  std::string sfx = RandomSuffix();
  std::string brokers = RequireEnv("SLUICE_KAFKA_BROKERS");
  std::string pg_url = RequireEnv("SLUICE_PG_URL");
  std::string topic = "t-sink-" + sfx + ".enriched";
  std::string dlq = "t-sink-" + sfx + ".dlq";
  std::string table = "t_sink_" + sfx;
  std::string group = "sluice-sink-t" + sfx;
  runtime::InMemorySchemaSource schemas;
  runtime::RowSerde v1{schemas};
  runtime::RowSerde v2{schemas};
  kafka::Producer producer{kafka::Config{{"bootstrap.servers", brokers}}};

  World() {
    kafka::Admin admin(kafka::Config{{"bootstrap.servers", brokers}});
    admin.CreateTopics({{topic, 3, 1, {}}, {dlq, 1, 1, {}}}, 30s);
    v1.RegisterOutput(topic, avro::ParseSchema(kV1));
    v2.RegisterOutput(topic, avro::ParseSchema(kV2));
  }
  ~World() {
    try {
      kafka::Admin admin(kafka::Config{{"bootstrap.servers", brokers}});
      admin.DeleteTopics({topic, dlq}, 30s);
      pqxx::connection c(pg_url);
      pqxx::work tx(c);
      tx.exec("DROP TABLE IF EXISTS " + tx.quote_name(table));
      tx.exec_params("DELETE FROM sluice_offsets WHERE consumer_group = $1", group);
      tx.commit();
    } catch (const std::exception&) {
    }
  }

  pgsink::PgSinkOptions Options() const {
    pgsink::PgSinkOptions o;
    o.topic = topic;
    o.dlq_topic = dlq;
    o.group_id = group;
    o.librdkafka = {{"bootstrap.servers", brokers}};
    o.table = {"public", table};
    o.key = {"loan_id"};
    o.table_schema = avro::ParseSchema(kV1);
    o.batch_size = 40;
    o.linger = 100ms;
    o.conninfo = pg_url;
    o.retry.budget = 120s;
    o.retry.max_backoff = 2s;
    // Kafka-committed offsets stay empty: a restart can only resume from PostgreSQL.
    o.commit_to_kafka = false;
    return o;
  }

  void Produce(runtime::RowSerde& serde, const std::string& key, const stages::Row& row) {
    auto bytes = serde.Encode(topic, row);
    REQUIRE(bytes);
    kafka::Message m;
    m.topic = topic;
    m.key = key;
    m.value = *bytes.value;
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    m.headers.push_back({runtime::kHeaderSourceTs, std::to_string(now.count())});
    producer.Produce(m);
  }
  void ProduceV1(const std::string& key, double amount) {
    Produce(v1, key, stages::Row{{"loan_id", key}, {"amount", amount}, {"grade", "A"}});
  }
  void Flush() {
    producer.Flush(30s);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }

  template <class T>
  T Scalar(const std::string& sql) const {
    pqxx::connection c(pg_url);
    pqxx::work tx(c);
    return tx.exec1(sql)[0].as<T>();
  }
  std::int64_t Rows() const {
    return Scalar<std::int64_t>("SELECT count(*) FROM " + table);
  }
  std::int64_t StoredOffsetSum() const {
    return Scalar<std::int64_t>(
        "SELECT coalesce(sum(next_offset), 0) FROM sluice_offsets WHERE consumer_group = '" +
        group + "' AND topic = '" + topic + "'");
  }

  // Reads every DLQ record (the topic is quiet once the sink has committed).
  std::vector<kafka::Message> DlqRecords(std::size_t at_least) const {
    kafka::Consumer c(kafka::Config{{"bootstrap.servers", brokers},
                                    {"group.id", "t-dlq-reader-" + RandomSuffix()}});
    c.Subscribe({dlq});
    std::vector<kafka::Message> out;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& m : c.PollBatch(100, 500ms)) out.push_back(std::move(m));
      if (out.size() >= at_least && !c.Assignment().empty()) {
        // One more quiet poll, so extra (unexpected) records would be seen too.
        for (auto& m : c.PollBatch(100, 1s)) out.push_back(std::move(m));
        break;
      }
    }
    c.Close();
    return out;
  }
};

// Runs a sink on a thread until Stop().
class RunningSink {
 public:
  RunningSink(World& w, pgsink::PgSinkOptions options)
      : sink_(std::move(options), w.schemas, obs::Logger("test-pg-sink"), source_.Token()) {
    sink_.Prepare();
    thread_ = std::thread([this] {
      try {
        sink_.Run();
      } catch (...) {
        error_ = std::current_exception();
      }
    });
  }
  ~RunningSink() {
    if (thread_.joinable()) Stop();
  }
  pgsink::PgSinkStats Stop() {
    source_.Request();
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    return sink_.Stats();
  }
  bool Assigned() const { return sink_.Assigned(); }

 private:
  core::ShutdownSource source_;
  pgsink::PgSink sink_;
  std::thread thread_;
  std::exception_ptr error_;
};

// Polls `done` until it holds or the deadline passes (a wait, not an assertion).
bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit = 90s) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      if (done()) return true;
    } catch (const std::exception&) {
      // e.g. the table does not exist yet, or PostgreSQL is restarting
    }
    std::this_thread::sleep_for(200ms);
  }
  return false;
}

}  // namespace

TEST_CASE("pg-sink: duplicate keys collapse to the last value and offsets are stored with the "
          "rows - a restart resumes from PostgreSQL",
          "[pg-sink]") {
  World w;
  std::map<std::string, double> last;
  constexpr int kRecords = 300;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "L-" + std::to_string(i % 170);  // 130 keys appear twice
    w.ProduceV1(key, i);
    last[key] = i;
  }
  w.Flush();
  {
    RunningSink sink(w, w.Options());
    REQUIRE(WaitUntil([&] { return w.StoredOffsetSum() == kRecords; }));
    auto stats = sink.Stop();
    CHECK(stats.records_in == kRecords);
    CHECK(stats.records_dlq == 0);
  }
  CHECK(w.Rows() == static_cast<std::int64_t>(last.size()));
  for (const auto& [key, amount] : last) {
    INFO(key);
    CHECK(w.Scalar<double>("SELECT amount FROM " + w.table + " WHERE loan_id = '" + key + "'") ==
          amount);
  }
  CHECK(w.Scalar<std::int64_t>("SELECT count(*) FROM sluice_offsets WHERE consumer_group = '" +
                               w.group + "'") == 3);

  // A marker that a replay of the old records would overwrite.
  {
    pqxx::connection c(w.pg_url);
    pqxx::work tx(c);
    tx.exec("UPDATE " + w.table + " SET amount = -1 WHERE loan_id = 'L-5'");
    tx.commit();
  }
  RunningSink again(w, w.Options());
  REQUIRE(WaitUntil([&] { return again.Assigned(); }));
  for (int i = 0; i < 20; ++i) w.ProduceV1("N-" + std::to_string(i), 1000 + i);
  w.Flush();
  REQUIRE(WaitUntil([&] { return w.StoredOffsetSum() == kRecords + 20; }));
  auto stats = again.Stop();
  CHECK(stats.records_in == 20);  // only the new records were read
  CHECK(w.Scalar<double>("SELECT amount FROM " + w.table + " WHERE loan_id = 'L-5'") == -1);
  CHECK(w.Rows() == static_cast<std::int64_t>(last.size()) + 20);
}

TEST_CASE("pg-sink: rows PostgreSQL refuses go to the DLQ with the SQLSTATE and the rest land",
          "[pg-sink]") {
  World w;
  {
    // Create the table (Prepare) and add a constraint the data will violate.
    auto options = w.Options();
    core::ShutdownSource never;
    pgsink::PgSink sink(options, w.schemas, obs::Logger("test-pg-sink"), never.Token());
    sink.Prepare();
    pqxx::connection c(w.pg_url);
    pqxx::work tx(c);
    tx.exec("ALTER TABLE " + w.table + " ADD CONSTRAINT amount_not_negative CHECK (amount >= 0)");
    tx.commit();
  }
  constexpr int kRecords = 100;
  std::set<std::string> bad;
  for (int i = 0; i < kRecords; ++i) {
    const std::string key = "C-" + std::to_string(i);
    const bool negative = i % 17 == 3;
    if (negative) bad.insert(key);
    w.ProduceV1(key, negative ? -5.0 : i);
  }
  // And bytes that are not the wire format at all.
  kafka::Message junk;
  junk.topic = w.topic;
  junk.key = "junk";
  junk.value = "not avro";
  w.producer.Produce(junk);
  w.Flush();

  RunningSink sink(w, w.Options());
  REQUIRE(WaitUntil([&] { return w.StoredOffsetSum() == kRecords + 1; }));
  auto stats = sink.Stop();
  CHECK(w.Rows() == kRecords - static_cast<std::int64_t>(bad.size()));
  CHECK(stats.records_dlq == bad.size() + 1);

  auto dlq = w.DlqRecords(bad.size() + 1);
  REQUIRE(dlq.size() == bad.size() + 1);
  std::set<std::string> seen;
  int undecodable = 0;
  for (const auto& m : dlq) {
    const auto* rule = kafka::FindLastHeader(m.headers, runtime::kHeaderRule);
    REQUIRE(rule != nullptr);
    const auto* key = kafka::FindLastHeader(m.headers, "sluice-dlq-original-key");
    REQUIRE(key != nullptr);
    // Keyed by origin (topic/partition@offset).
    REQUIRE(m.key);
    CHECK(m.key->rfind(w.topic + "/", 0) == 0);
    if (*rule->value == "undecodable") {
      ++undecodable;
      CHECK(*m.value == "not avro");
      continue;
    }
    CHECK(*rule->value == "pg_rejected");
    const auto* sqlstate = kafka::FindLastHeader(m.headers, "sluice-dlq-sqlstate");
    REQUIRE(sqlstate != nullptr);
    CHECK(*sqlstate->value == "23514");
    const auto* reason = kafka::FindLastHeader(m.headers, runtime::kHeaderReason);
    REQUIRE(reason != nullptr);
    CHECK_THAT(*reason->value, Catch::Contains("amount_not_negative"));
    seen.insert(*key->value);
  }
  CHECK(undecodable == 1);
  CHECK(seen == bad);
}

TEST_CASE("pg-sink: a newer writer schema adds its columns and old and new records both land",
          "[pg-sink]") {
  World w;
  for (int i = 0; i < 30; ++i) w.ProduceV1("E-" + std::to_string(i), i);
  for (int i = 30; i < 60; ++i) {
    const std::string key = "E-" + std::to_string(i);
    w.Produce(w.v2, key,
              stages::Row{{"loan_id", key}, {"amount", double(i)}, {"grade", "B"},
                          {"region", i % 2 ? "West" : "South"}});
  }
  w.Flush();
  RunningSink sink(w, w.Options());
  REQUIRE(WaitUntil([&] { return w.StoredOffsetSum() == 60; }));
  auto stats = sink.Stop();
  CHECK(stats.columns_added == 1);
  CHECK(w.Rows() == 60);
  CHECK(w.Scalar<std::int64_t>("SELECT count(region) FROM " + w.table) == 30);
  CHECK(w.Scalar<std::string>("SELECT region FROM " + w.table + " WHERE loan_id = 'E-31'") ==
        "West");
  CHECK(w.Scalar<bool>("SELECT region IS NULL FROM " + w.table + " WHERE loan_id = 'E-3'"));
  CHECK(w.Scalar<std::string>("SELECT is_nullable FROM information_schema.columns WHERE "
                              "table_name = '" + w.table + "' AND column_name = 'region'") ==
        "YES");
}

TEST_CASE("pg-sink: a PostgreSQL restart mid-run is retried - nothing goes to the DLQ and "
          "the final count is exact",
          "[pg-sink][restart-pg]") {
  World w;
  constexpr int kRecords = 4000;
  auto options = w.Options();
  options.batch_size = 50;
  RunningSink sink(w, options);
  REQUIRE(WaitUntil([&] { return sink.Assigned(); }));
  // Feed while PostgreSQL restarts, so batches are in flight when it goes away.
  std::atomic<bool> fed{false};
  std::thread feeder([&] {
    for (int i = 0; i < kRecords; ++i) {
      w.ProduceV1("R-" + std::to_string(i), i);
      if (i % 200 == 199) {
        w.producer.Flush(30s);
        std::this_thread::sleep_for(100ms);
      }
    }
    w.producer.Flush(30s);
    fed = true;
  });
  REQUIRE(WaitUntil([&] { return w.Rows() > 0; }));
  const std::string cmd = std::string(SLUICE_SOURCE_DIR) + "/deploy/local/stack restart-pg";
  const int rc = std::system(cmd.c_str());
  feeder.join();
  REQUIRE(rc == 0);
  REQUIRE(fed);
  REQUIRE(WaitUntil([&] { return w.StoredOffsetSum() == kRecords; }, 180s));
  auto stats = sink.Stop();
  CHECK(stats.pg_reconnects >= 1);
  CHECK(stats.records_dlq == 0);
  CHECK(w.Rows() == kRecords);
  kafka::Consumer probe(kafka::Config{{"bootstrap.servers", w.brokers},
                                      {"group.id", "t-probe-" + w.sfx}});
  CHECK(probe.Watermarks({w.dlq, 0}, 10s).second == 0);
}
