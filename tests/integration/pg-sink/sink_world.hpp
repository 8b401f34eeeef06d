#pragma once
// The world of a PgSink test on the real local stack (Kafka + PostgreSQL): its own topics,
// table and group, writer schemas in an in-process InMemorySchemaSource (the sink reads
// schemas through the SchemaSource interface; the registry daemon is tested on its own), and
// a sink running on a thread. Shared by the tests in this directory.
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

namespace sink_test {

using namespace sluice;
using namespace std::chrono_literals;
using sluice::testing::RandomSuffix;
using sluice::testing::RequireEnv;

inline const char* kV1 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
  {"name":"loan_id","type":"string"},
  {"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null}]})";
inline const char* kV2 = R"({"type":"record","name":"Loan","namespace":"t","fields":[
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

  // `topic_configs`: the input topic's configuration (the DLQ keeps the broker's defaults).
  explicit World(std::map<std::string, std::string> topic_configs = {}) {
    kafka::Admin admin(kafka::Config{{"bootstrap.servers", brokers}});
    admin.CreateTopics({{topic, 3, 1, topic_configs}, {dlq, 1, 1, {}}}, 30s);
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

  pg_sink::PgSinkOptions Options() const {
    pg_sink::PgSinkOptions o;
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
    // A bound, not a timing: under ASan on a loaded machine the last records take a while.
    const auto deadline = std::chrono::steady_clock::now() + 120s;
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
  RunningSink(World& w, pg_sink::PgSinkOptions options)
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
  pg_sink::PgSinkStats Stop() {
    source_.Request();
    thread_.join();
    if (error_) std::rethrow_exception(error_);
    return sink_.Stats();
  }
  bool Assigned() const { return sink_.Assigned(); }

 private:
  core::ShutdownSource source_;
  pg_sink::PgSink sink_;
  std::thread thread_;
  std::exception_ptr error_;
};

// Polls `done` until it holds or the deadline passes (a wait, not an assertion).
inline bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit = 90s) {
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

}  // namespace sink_test
