// The transform loop against the real broker: N records in -> exactly N out + DLQ, read with
// read_committed; a stage that fails mid-batch abandons the open transaction, and a
// restarted loop (same group, same transactional.id) still ends with exactly N, no duplicates.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <set>
#include <stdexcept>
#include <thread>

#include "../kafka/kafka_test_support.hpp"
#include "sluice/http/client.hpp"
#include "sluice/http/server.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/transform_loop.hpp"
#include "support/run_loop.hpp"
#include "support/settled.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice;
using kafka::testing::Brokers;
using kafka::testing::UniqueName;

const char* kInSchema = R"({"type":"record","name":"Item","fields":[
  {"name":"id","type":"string"},{"name":"n","type":"long"}]})";
const char* kOutSchema = R"({"type":"record","name":"ItemOut","fields":[
  {"name":"id","type":"string"},{"name":"n","type":"long"},{"name":"doubled","type":"long"}]})";

// n % 10 == 3: reject; n % 10 == 7: drop; else emit with doubled = 2n. Throws once the
// shared counter passes `fail_after` (when >= 0), like a crash in the middle of a batch.
class TestStage : public runtime::TransformStage {
 public:
  TestStage(std::atomic<int>& processed, int fail_after) : processed_(processed), fail_after_(fail_after) {}
  runtime::StageResult Process(runtime::Record r) override {
    int seen = ++processed_;
    if (fail_after_ >= 0 && seen > fail_after_) throw std::runtime_error("stage crashed on purpose");
    std::int64_t n = std::get<std::int64_t>(r.Row().Get("n"));
    if (n % 10 == 3) return stages::Outcome::RuleReject("odd3", "n ends in 3: " + std::to_string(n));
    if (n % 10 == 7) return stages::Outcome::Drop("odd7", "n ends in 7");
    r.Row().Set("doubled", n * 2);
    return runtime::EmitOne(std::move(r));
  }

 private:
  std::atomic<int>& processed_;
  int fail_after_;
};

struct Fixture {
  std::string in = UniqueName("tl-in"), out = UniqueName("tl-out"), dlq = UniqueName("tl-dlq");
  std::string group = UniqueName("tl-group");
  runtime::InMemorySchemaSource schemas;

  ~Fixture() {  // best effort: the broker is shared
    try {
      kafka::Admin(kafka::testing::BaseConfig()).DeleteTopics({in, out, dlq}, 30s);
    } catch (const std::exception&) {
    }
  }

  runtime::TransformLoopOptions Options() const {
    runtime::TransformLoopOptions o;
    o.stage_name = "tester";
    o.input_topic = in;
    o.output_topic = out;
    o.dlq_topic = dlq;
    o.input_schema = avro::ParseSchema(kInSchema);
    o.output_schema = avro::ParseSchema(kOutSchema);
    o.group_id = group;
    o.transactional_id = group + "-0";
    o.librdkafka = {{"bootstrap.servers", Brokers()}, {"session.timeout.ms", "10000"}};
    o.batch_size = 20;
    o.linger = core::Duration(100);
    o.partitions = 3;
    o.retry.budget = core::Duration(30'000);
    return o;
  }

  // Produces n valid records (ids "k0".."k<n-1>") and `garbage` undecodable ones.
  void Feed(int n, int garbage) {
    kafka::Admin admin(kafka::testing::BaseConfig());
    admin.CreateTopics({{in, 3, 1, {}}}, 60s);
    runtime::RowSerde serde(schemas);
    serde.RegisterOutput(in, avro::ParseSchema(kInSchema));
    kafka::Producer producer(kafka::testing::BaseConfig());
    for (int i = 0; i < n; ++i) {
      stages::Row row{{"id", std::string("k") + std::to_string(i)}, {"n", std::int64_t{i}}};
      auto bytes = serde.Encode(in, row);
      REQUIRE(bytes);
      kafka::Message m;
      m.topic = in;
      m.key = "k" + std::to_string(i);
      m.value = *bytes.value;
      m.headers = {{runtime::kHeaderOrigin, std::string("feed.csv:") + std::to_string(i + 2)}};
      producer.Produce(m);
    }
    for (int i = 0; i < garbage; ++i) {
      kafka::Message m;
      m.topic = in;
      m.key = "bad" + std::to_string(i);
      m.value = std::string("\x01garbage", 8);
      producer.Produce(m);
    }
    producer.Flush(60s);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }

  // Every committed record of output and DLQ (read_committed, each topic to its end as of the
  // call). Returns key -> topics it was seen on (one entry per record).
  std::multimap<std::string, std::string> ReadAll() {
    std::multimap<std::string, std::string> seen;
    REQUIRE(sluice::testing::AwaitSettled(kafka::testing::BaseConfig(), {out, dlq}, 60s));
    for (const std::string& topic : {out, dlq}) {
      kafka::TopicReader reader(kafka::testing::BaseConfig(), topic);
      REQUIRE(reader.ReadToEnd(
          [&](const kafka::Message& m) { seen.emplace(m.key.value_or(""), m.topic); },
          std::chrono::steady_clock::now() + 90s));
    }
    return seen;
  }
};

void CheckExactlyOnce(const std::multimap<std::string, std::string>& seen, int n, int garbage,
                      const std::string& out, const std::string& dlq) {
  std::map<std::string, int> counts;
  for (const auto& [k, t] : seen) counts[k]++;
  for (const auto& [k, c] : counts) {
    INFO("key " << k << " seen " << c << " times");
    CHECK(c == 1);
  }
  REQUIRE(seen.size() == static_cast<std::size_t>(n + garbage));
  for (int i = 0; i < n; ++i) {
    std::string key = "k" + std::to_string(i);
    REQUIRE(seen.count(key) == 1);
    const std::string& topic = seen.find(key)->second;
    CHECK(topic == ((i % 10 == 3 || i % 10 == 7) ? dlq : out));
  }
  for (int i = 0; i < garbage; ++i) REQUIRE(seen.count("bad" + std::to_string(i)) == 1);
}

}  // namespace

TEST_CASE("transform loop: N in -> exactly N out + DLQ, with DLQ headers") {
  Fixture f;
  const int n = 300, garbage = 4;
  f.Feed(n, garbage);
  core::ShutdownSource stop;
  std::atomic<int> processed{0};
  runtime::TransformLoop loop(
      f.Options(), [&] { return std::make_unique<TestStage>(processed, -1); }, f.schemas,
      stop.Token(), obs::Logger("test"));
  sluice::testing::RunLoopUntil(
      loop, stop, [&] { return loop.Stats().records_in >= static_cast<std::uint64_t>(n + garbage); },
      90s);
  auto stats = loop.Stats();
  CHECK(stats.records_in == static_cast<std::uint64_t>(n + garbage));
  CHECK(stats.records_out + stats.records_dlq == stats.records_in);

  auto seen = f.ReadAll();
  CheckExactlyOnce(seen, n, garbage, f.out, f.dlq);

  // The DLQ records carry the original bytes and the stage/rule/reason/origin headers; the
  // emitted ones decode with the output schema and keep the upstream origin header.
  kafka::Consumer consumer(kafka::testing::ConsumerConfig(UniqueName("tl-check")));
  consumer.Subscribe({f.dlq, f.out});
  runtime::RowSerde serde(f.schemas);
  std::map<std::string, int> rules;
  int outs = 0, read = 0;
  // Polls until every record has been read: one poll may return only some partitions' records.
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read < n + garbage && std::chrono::steady_clock::now() < deadline) {
    for (auto& m : consumer.PollBatch(1000, 1s)) {
      ++read;
      if (m.topic == f.dlq) {
        const auto* rule = kafka::FindLastHeader(m.headers, runtime::kHeaderRule);
        const auto* stage = kafka::FindLastHeader(m.headers, runtime::kHeaderStage);
        const auto* origin = kafka::FindLastHeader(m.headers, runtime::kHeaderOrigin);
        REQUIRE(rule != nullptr);
        REQUIRE(stage != nullptr);
        REQUIRE(origin != nullptr);
        CHECK(*stage->value == "tester");
        CHECK(origin->value->rfind(f.in + "/", 0) == 0);
        rules[*rule->value]++;
        if (*rule->value == "undecodable") CHECK(*m.value == std::string("\x01garbage", 8));
        if (*rule->value == "odd3") {
          auto row = serde.Decode(*m.value);
          REQUIRE(row);
          CHECK(std::get<std::int64_t>(row.value->Get("n")) % 10 == 3);
        }
      } else {
        auto row = serde.Decode(*m.value);
        REQUIRE(row);
        CHECK(std::get<std::int64_t>(row.value->Get("doubled")) ==
              2 * std::get<std::int64_t>(row.value->Get("n")));
        const auto* origin = kafka::FindLastHeader(m.headers, runtime::kHeaderOrigin);
        REQUIRE(origin != nullptr);
        CHECK(origin->value->rfind("feed.csv:", 0) == 0);
        ++outs;
      }
    }
  }
  CHECK(read == n + garbage);
  CHECK(rules["odd3"] == n / 10);
  CHECK(rules["drop"] == n / 10);
  CHECK(rules["undecodable"] == garbage);
  CHECK(outs == n - 2 * (n / 10));
  consumer.Close();
}

TEST_CASE("transform loop: a stage failing mid-batch, then a restart, still gives exactly N") {
  Fixture f;
  const int n = 250, garbage = 2;
  f.Feed(n, garbage);
  std::atomic<int> processed{0};
  {
    core::ShutdownSource stop;
    runtime::TransformLoop loop(
        f.Options(), [&] { return std::make_unique<TestStage>(processed, 70); }, f.schemas,
        stop.Token(), obs::Logger("test"));
    // 70 records: three batches of 20 commit, the fourth fails after 10 and is abandoned.
    REQUIRE_THROWS_WITH(loop.Run(), Catch::Contains("crashed on purpose"));
    CHECK(loop.Stats().records_in < static_cast<std::uint64_t>(n + garbage));
  }
  core::ShutdownSource stop;
  std::atomic<int> processed2{0};
  runtime::TransformLoop loop(
      f.Options(), [&] { return std::make_unique<TestStage>(processed2, -1); }, f.schemas,
      stop.Token(), obs::Logger("test"));
  auto seen_before = f.ReadAll();
  std::size_t committed_before = seen_before.size();
  CHECK(committed_before > 0);
  CHECK(committed_before < static_cast<std::size_t>(n + garbage));
  sluice::testing::RunLoopUntil(
      loop, stop,
      [&] {
        return loop.Stats().records_in + committed_before >=
               static_cast<std::uint64_t>(n + garbage);
      },
      90s);
  auto seen = f.ReadAll();
  CheckExactlyOnce(seen, n, garbage, f.out, f.dlq);
}

TEST_CASE("transform loop: a 5 MB input record is too_large, dead-lettered cut to the DLQ's 1 MB "
          "limit with its headers, and the loop goes on") {
  Fixture f;
  const int n = 50;
  const std::size_t huge = 5 * 1024 * 1024;
  kafka::Admin(kafka::testing::BaseConfig())
      .CreateTopics({{f.in, 3, 1, {{"max.message.bytes", "10485760"}}}}, 60s);
  f.Feed(n, 0);
  kafka::Config big = kafka::testing::BaseConfig();
  big.Set("message.max.bytes", "10485760");
  kafka::Producer producer(big);
  kafka::Message m;
  m.topic = f.in;
  m.key = "HUGE";
  m.value = std::string(huge, 'x');
  m.headers = {{runtime::kHeaderOrigin, "feed.csv:999"}};
  producer.Produce(m);
  producer.Flush(60s);
  REQUIRE(producer.TakeDeliveryFailures().empty());

  core::ShutdownSource stop;
  std::atomic<int> processed{0};
  runtime::TransformLoop loop(
      f.Options(), [&] { return std::make_unique<TestStage>(processed, -1); }, f.schemas,
      stop.Token(), obs::Logger("test"));
  sluice::testing::RunLoopUntil(
      loop, stop, [&] { return loop.Stats().records_in >= static_cast<std::uint64_t>(n + 1); },
      90s);
  const auto stats = loop.Stats();
  CHECK(stats.records_in == static_cast<std::uint64_t>(n + 1));
  CHECK(stats.records_dlq == static_cast<std::uint64_t>(2 * (n / 10) + 1));
  CHECK(stats.aborts == 0);
  CHECK(processed == n);  // the big record never reached the stage

  kafka::Consumer consumer(kafka::testing::ConsumerConfig(UniqueName("tl-huge")));
  consumer.Subscribe({f.dlq});
  std::optional<kafka::Message> found;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!found && std::chrono::steady_clock::now() < deadline) {
    for (auto& d : consumer.PollBatch(100, 1s)) {
      if (d.key == std::optional<std::string>("HUGE")) found = std::move(d);
    }
  }
  consumer.Close();
  REQUIRE(found);
  auto header = [&](const char* name) {
    const kafka::Header* h = kafka::FindLastHeader(found->headers, name);
    return h && h->value ? *h->value : std::string("<none>");
  };
  CHECK(header(runtime::kHeaderRule) == "too_large");
  CHECK(header(runtime::kHeaderStage) == "tester");
  CHECK(header(runtime::kHeaderTruncated) == "value");
  CHECK(header(runtime::kHeaderOriginalBytes) == std::to_string(huge));
  CHECK(header(runtime::kHeaderOrigin).rfind(f.in + "/", 0) == 0);
  CHECK(runtime::WireSize(*found) <= 1'000'000);
  REQUIRE(found->value);
  CHECK(found->value->size() > 900'000);
}

namespace {

// Blocks in Process on the record with n == 0 until released, as a loop blocked in a commit
// retry or a dependency that neither answers nor fails.
class BlockingStage : public runtime::TransformStage {
 public:
  explicit BlockingStage(std::atomic<bool>& release) : release_(release) {}
  runtime::StageResult Process(runtime::Record r) override {
    if (std::get<std::int64_t>(r.Row().Get("n")) == 0) {
      while (!release_) std::this_thread::sleep_for(50ms);
    }
    r.Row().Set("doubled", 2 * std::get<std::int64_t>(r.Row().Get("n")));
    return runtime::EmitOne(std::move(r));
  }

 private:
  std::atomic<bool>& release_;
};

}  // namespace

TEST_CASE("transform loop: a loop blocked inside a batch says not ready, then ready once it "
          "comes round again") {
  Fixture f;
  f.Feed(0, 0);
  http::Server server({}, nullptr);
  server.Start();
  http::Client client;
  const std::string readyz = "http://127.0.0.1:" + std::to_string(server.Port()) + "/readyz";
  // Waits until /readyz answers `status` with a body containing `says` (the bound fails the
  // test); returns the body. Another not-ready reason on the way (a rebalance right after the
  // first assignment: "no partitions assigned yet") is not the one asked for.
  auto await = [&](int status, std::chrono::seconds bound, const std::string& says = "") {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (true) {
      auto r = client.Get(readyz);
      if (static_cast<int>(r.status) == status && r.body.find(says) != std::string::npos) return r.body;
      if (std::chrono::steady_clock::now() > deadline) {
        FAIL("/readyz never answered " << status << " within " << bound.count() << " s; last: "
                                       << r.status << " " << r.body);
      }
      std::this_thread::sleep_for(200ms);
    }
  };
  std::atomic<bool> release{false};
  core::ShutdownSource stop;
  runtime::TransformLoop loop(
      f.Options(), [&] { return std::make_unique<BlockingStage>(release); }, f.schemas,
      stop.Token(), obs::Logger("test"), nullptr, &server);
  std::exception_ptr error;
  std::thread runner([&] {
    try {
      loop.Run();
    } catch (...) {
      error = std::current_exception();
    }
  });
  // Whatever happens below (a failed wait throws), the loop is stopped and joined.
  struct Join {
    core::ShutdownSource& stop;
    std::thread& runner;
    std::atomic<bool>& release;
    ~Join() {
      release = true;
      stop.Request();
      runner.join();
    }
  } join{stop, runner, release};

  const int n = 50;
  await(200, 90s);  // assigned, lag known
  f.Feed(n, 0);
  // The loop is blocked on record 0: only the pulse rule can say so.
  const std::string body = await(503, 60s, "has not come round");
  CHECK(body.find("has not come round") != std::string::npos);
  release = true;
  await(200, 60s);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (loop.Stats().records_in < static_cast<std::uint64_t>(n) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(100ms);
  }
  CHECK(loop.Stats().records_in == static_cast<std::uint64_t>(n));
  CHECK_FALSE(error);
  server.Stop();
}
