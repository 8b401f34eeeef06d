// Issue #19: hostile records injected straight into the enriched topic, as an upstream bug or
// an attacker with kcat would. Runs on the real stack, and (an _asantest) also in CI's
// sanitizer build, where the heap corruption it once caused is a hard failure.
//
// The sequence: 1,000 good rows; a row PostgreSQL refuses (a NUL byte: SQLSTATE 22021);
// an empty value and a null value (undecodable); one 5 MB record (the input topic takes
// 10 MB, the DLQ keeps Kafka's 1 MB default). Before the fix the 5 MB record's DLQ copy was
// refused, Run threw, and the consumer's close during destruction ran the revoke callback
// over members already destroyed.
#include "sink_world.hpp"
#include "sluice/runtime/dlq.hpp"

using namespace sink_test;

namespace {

constexpr std::size_t kGoodRows = 1000;
constexpr std::size_t kHugeBytes = 5 * 1024 * 1024;

std::string HeaderValue(const kafka::Message& m, const char* name) {
  const kafka::Header* h = kafka::FindLastHeader(m.headers, name);
  return h && h->value ? *h->value : std::string("<none>");
}

}  // namespace

TEST_CASE("pg-sink: a refused row, empty and null values and a 5 MB record are dead-lettered "
          "(the big one cut to fit the DLQ) and the sink keeps running") {
  World w(std::map<std::string, std::string>{{"max.message.bytes", "10485760"}});
  for (std::size_t i = 0; i < kGoodRows; ++i) w.ProduceV1("L" + std::to_string(i), 100.0 + i);
  w.Produce(w.v1, "NUL", stages::Row{{"loan_id", "NUL"}, {"amount", 1.0},
                                      {"grade", std::string("A\0B", 3)}});
  kafka::Producer big(kafka::Config{{"bootstrap.servers", w.brokers},
                                    {"message.max.bytes", "10485760"}});
  auto raw = [&](std::optional<std::string> value, const std::string& key) {
    kafka::Message m;
    m.topic = w.topic;
    m.key = key;
    m.value = std::move(value);
    big.Produce(m);
  };
  raw(std::string(), "EMPTY");
  raw(std::nullopt, "NULL");
  raw(std::string(kHugeBytes, '\x7f'), "HUGE");
  big.Flush(30s);
  REQUIRE(big.TakeDeliveryFailures().empty());
  w.Flush();

  RunningSink sink(w, w.Options());
  const bool loaded = WaitUntil([&] { return w.Rows() == static_cast<std::int64_t>(kGoodRows); });
  CHECK(loaded);
  const std::vector<kafka::Message> dlq = w.DlqRecords(4);
  // Still running after all of it: Stop returns the stats instead of rethrowing a failure.
  pg_sink::PgSinkStats stats;
  REQUIRE_NOTHROW(stats = sink.Stop());
  CHECK(stats.rows_written == kGoodRows);
  CHECK(stats.records_dlq == 4);
  CHECK(stats.records_in == kGoodRows + 4);

  std::map<std::string, std::string> rule_of;  // original key -> rule
  for (const kafka::Message& m : dlq) {
    const std::string key = HeaderValue(m, "sluice-dlq-original-key");
    rule_of[key] = HeaderValue(m, runtime::kHeaderRule);
    CHECK(HeaderValue(m, runtime::kHeaderStage) == "pg-sink");
    CHECK(runtime::WireSize(m) <= 1'000'000);
    if (key == "HUGE") {
      CHECK(HeaderValue(m, runtime::kHeaderTruncated) == "value");
      CHECK(HeaderValue(m, runtime::kHeaderOriginalBytes) == std::to_string(kHugeBytes));
      CHECK(HeaderValue(m, runtime::kHeaderOrigin).rfind(w.topic + "/", 0) == 0);
      REQUIRE(m.value);
      CHECK(m.value->size() > 900'000);  // as much of the original as fits
      CHECK(*m.value == std::string(m.value->size(), '\x7f'));
    } else {
      CHECK(HeaderValue(m, runtime::kHeaderTruncated) == "<none>");
    }
  }
  CHECK(dlq.size() == 4);
  CHECK(rule_of["NUL"] == "pg_rejected");
  CHECK(rule_of["EMPTY"] == "undecodable");
  CHECK(rule_of["NULL"] == "undecodable");
  CHECK(rule_of["HUGE"] == "too_large");
  // Every offset is stored: a restart reads nothing again.
  CHECK(w.StoredOffsetSum() == static_cast<std::int64_t>(kGoodRows + 4));
}

TEST_CASE("pg-sink: a record over max_record_bytes is too_large without being decoded, even a "
          "valid one") {
  World w;
  w.ProduceV1("small", 1.0);
  w.Produce(w.v1, "padded", stages::Row{{"loan_id", "padded"}, {"amount", 2.0},
                                         {"grade", std::string(5000, 'G')}});
  w.Flush();
  auto options = w.Options();
  options.max_record_bytes = 4096;
  RunningSink sink(w, options);
  CHECK(WaitUntil([&] { return w.Rows() == 1; }));
  const std::vector<kafka::Message> dlq = w.DlqRecords(1);
  REQUIRE_NOTHROW(sink.Stop());
  REQUIRE(dlq.size() == 1);
  CHECK(HeaderValue(dlq[0], runtime::kHeaderRule) == "too_large");
  CHECK(HeaderValue(dlq[0], runtime::kHeaderReason).find("max_record_bytes (4096)") !=
        std::string::npos);
  CHECK(HeaderValue(dlq[0], runtime::kHeaderTruncated) == "<none>");  // fits the DLQ whole
}
