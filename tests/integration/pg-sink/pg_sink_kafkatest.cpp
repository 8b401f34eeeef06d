// PgSink against the real local stack (Kafka + PostgreSQL); see sink_world.hpp.
#include "sink_world.hpp"

using namespace sink_test;

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
    pg_sink::PgSink sink(options, w.schemas, obs::Logger("test-pg-sink"), never.Token());
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
