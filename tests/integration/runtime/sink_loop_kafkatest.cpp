// The sink loop against the real broker, hosting a writer that is not PostgreSQL: a table in
// memory whose "transaction" applies rows and stored offsets together or not at all. Proves the
// loop's contract for any target: N records in -> every one once in the target or the DLQ, the
// target's refusals dead-lettered before its commit, and a writer that fails mid-run, then a
// restarted loop, still ends with each record in the target exactly once.
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <mutex>
#include <set>

#include "../kafka/kafka_test_support.hpp"
#include "sluice/core/error.hpp"
#include "sluice/kafka/producer.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/sink_loop.hpp"
#include "sluice/runtime/stage.hpp"
#include "support/run_loop.hpp"

namespace {

using namespace std::chrono_literals;
using namespace sluice;
using kafka::testing::Brokers;
using kafka::testing::UniqueName;

// What survives a crash of the loop: the committed rows and offsets.
struct MemoryTable {
  std::mutex mu;
  std::multiset<std::string> rows;               // a row written twice shows up twice
  std::map<std::int32_t, std::int64_t> offsets;  // partition -> next offset
};

struct MemoryRows final : runtime::SinkRows {
  std::vector<std::string> rows;
  void Clear() override { rows.clear(); }
  void Keep(const std::vector<std::size_t>& kept) override {
    std::vector<std::string> only;
    for (std::size_t i : kept) only.push_back(rows[i]);
    rows = std::move(only);
  }
};

// "bad..." is judged unfit; "refuse..." is a row the target refuses inside its transaction;
// anything else is a row. Write fails (before applying anything) once `fail_on_batch` batches
// have been written, when >= 0.
class MemoryWriter final : public runtime::SinkWriter {
 public:
  MemoryWriter(MemoryTable& table, int fail_on_batch) : table_(table), fail_on_batch_(fail_on_batch) {}

  void Prepare() override {}
  std::map<std::int32_t, std::int64_t> LoadOffsets(const std::string&,
                                                   const std::vector<std::int32_t>& parts) override {
    std::lock_guard lock(table_.mu);
    std::map<std::int32_t, std::int64_t> out;
    for (std::int32_t p : parts) {
      if (auto it = table_.offsets.find(p); it != table_.offsets.end()) out[p] = it->second;
    }
    return out;
  }
  std::unique_ptr<runtime::SinkRows> NewRows() override { return std::make_unique<MemoryRows>(); }
  bool Fits(const runtime::SinkRows&) const override { return true; }
  stages::Outcome Judge(std::string_view bytes, const std::function<void()>&) override {
    judged_ = std::string(bytes);
    if (judged_.rfind("bad", 0) == 0) return stages::Outcome::RuleReject("bad_bytes", "starts with bad: " + judged_);
    return stages::Outcome::Emit();
  }
  void AppendJudged(runtime::SinkRows& rows) override {
    static_cast<MemoryRows&>(rows).rows.push_back(judged_);
  }
  std::size_t Write(const runtime::SinkRows& rows, const std::vector<runtime::SinkOffset>& offsets,
                    const runtime::SinkDeadLetter& dead_letter) override {
    const auto& batch = static_cast<const MemoryRows&>(rows).rows;
    if (fail_on_batch_ >= 0 && batches_ >= fail_on_batch_) {
      throw core::InfraError("target failed on purpose", core::Retry::kNo);
    }
    std::vector<runtime::SinkRejection> refused;
    std::vector<std::string> kept;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].rfind("refuse", 0) == 0) {
        refused.push_back({i, stages::Outcome::RuleReject("refused", "the target refuses " + batch[i]),
                           {{"x-target", "mem"}}});
      } else {
        kept.push_back(batch[i]);
      }
    }
    dead_letter(refused);
    std::lock_guard lock(table_.mu);  // the commit: rows and offsets together
    for (const std::string& r : kept) table_.rows.insert(r);
    for (const runtime::SinkOffset& o : offsets) table_.offsets[o.partition] = o.next_offset;
    ++batches_;
    return kept.size();
  }

 private:
  MemoryTable& table_;
  int fail_on_batch_;
  int batches_ = 0;
  std::string judged_;
};

struct Fixture {
  std::string in = UniqueName("sl-in"), dlq = UniqueName("sl-dlq");
  std::string group = UniqueName("sl-group");

  ~Fixture() {  // best effort: the broker is shared
    try {
      kafka::Admin(kafka::testing::BaseConfig()).DeleteTopics({in, dlq}, 30s);
    } catch (const std::exception&) {
    }
  }

  runtime::SinkLoopOptions Options() const {
    runtime::SinkLoopOptions o;
    o.stage_name = "memsink";
    o.target = "memory";
    o.topic = in;
    o.dlq_topic = dlq;
    o.group_id = group;
    o.librdkafka = {{"bootstrap.servers", Brokers()}, {"session.timeout.ms", "10000"}};
    o.batch_size = 25;
    o.linger = core::Duration(100);
    o.partitions = 3;
    o.retry.budget = core::Duration(30'000);
    return o;
  }

  // n values: every 10th ("bad<i>") is unfit, every 10th+5 ("refuse<i>") is refused, the rest
  // ("v<i>") are rows.
  static std::string ValueOf(int i) {
    if (i % 10 == 0) return "bad" + std::to_string(i);
    if (i % 10 == 5) return "refuse" + std::to_string(i);
    return "v" + std::to_string(i);
  }

  void Feed(int n) {
    kafka::Admin(kafka::testing::BaseConfig()).CreateTopics({{in, 3, 1, {}}}, 60s);
    kafka::Producer producer(kafka::testing::BaseConfig());
    for (int i = 0; i < n; ++i) {
      kafka::Message m;
      m.topic = in;
      m.key = "k" + std::to_string(i);
      m.value = ValueOf(i);
      producer.Produce(m);
    }
    producer.Flush(60s);
    REQUIRE(producer.TakeDeliveryFailures().empty());
  }

  // DLQ record value -> how many times it was dead-lettered; checks the headers on the way.
  std::map<std::string, int> ReadDlq() {
    std::map<std::string, int> seen;
    kafka::TopicReader reader(kafka::testing::BaseConfig(), dlq);
    REQUIRE(reader.ReadToEnd(
        [&](const kafka::Message& m) {
          const std::string value = m.value.value_or("");
          const auto* rule = kafka::FindLastHeader(m.headers, runtime::kHeaderRule);
          const auto* stage = kafka::FindLastHeader(m.headers, runtime::kHeaderStage);
          const auto* key = kafka::FindLastHeader(m.headers, "sluice-dlq-original-key");
          REQUIRE(rule != nullptr);
          REQUIRE(stage != nullptr);
          REQUIRE(key != nullptr);
          CHECK(*stage->value == "memsink");
          CHECK(*rule->value == (value.rfind("bad", 0) == 0 ? "bad_bytes" : "refused"));
          if (*rule->value == "refused") CHECK(kafka::FindLastHeader(m.headers, "x-target") != nullptr);
          CHECK(m.key.value_or("").rfind(in + "/", 0) == 0);  // keyed by origin
          seen[value]++;
        },
        std::chrono::steady_clock::now() + 90s));
    return seen;
  }
};

void CheckTable(MemoryTable& table, int n) {
  std::lock_guard lock(table.mu);
  int rows = 0;
  for (int i = 0; i < n; ++i) {
    const std::string v = Fixture::ValueOf(i);
    if (v[0] != 'v') {
      CHECK(table.rows.count(v) == 0);
      continue;
    }
    INFO("row " << v);
    CHECK(table.rows.count(v) == 1);
    ++rows;
  }
  CHECK(table.rows.size() == static_cast<std::size_t>(rows));
}

}  // namespace

TEST_CASE("sink loop: N in -> each row once in the target, unfit and refused records in the DLQ, "
          "offsets stored with the rows") {
  Fixture f;
  const int n = 300;
  f.Feed(n);
  MemoryTable table;
  MemoryWriter writer(table, -1);
  core::ShutdownSource stop;
  runtime::SinkLoop loop(f.Options(), writer, stop.Token(), obs::Logger("test"));
  loop.Prepare();
  sluice::testing::RunLoopUntil(loop, stop, [&] { return loop.Stats().records_in >= static_cast<std::uint64_t>(n); },
           90s);
  const runtime::SinkLoopStats stats = loop.Stats();
  CHECK(stats.records_in == static_cast<std::uint64_t>(n));
  CHECK(stats.rows_written == static_cast<std::uint64_t>(n - 2 * (n / 10)));
  CHECK(stats.records_dlq == static_cast<std::uint64_t>(2 * (n / 10)));
  CheckTable(table, n);
  const std::map<std::string, int> dlq = f.ReadDlq();
  CHECK(dlq.size() == static_cast<std::size_t>(2 * (n / 10)));
  for (const auto& [value, count] : dlq) {
    INFO(value);
    CHECK(count == 1);  // no crash: no repeat
  }
  // The stored offsets are the ends of the partitions: a restart would read nothing again.
  std::int64_t total = 0;
  for (const auto& [p, next] : table.offsets) total += next;
  CHECK(total == n);
}

TEST_CASE("sink loop: a writer failing mid-run, then a restarted loop, gives each row exactly "
          "once and every DLQ record at least once") {
  Fixture f;
  const int n = 250;
  f.Feed(n);
  MemoryTable table;
  {
    MemoryWriter failing(table, 3);  // three batches commit, the fourth fails
    core::ShutdownSource stop;
    runtime::SinkLoop loop(f.Options(), failing, stop.Token(), obs::Logger("test"));
    loop.Prepare();
    REQUIRE_THROWS_WITH(sluice::testing::RunLoopUntil(loop, stop, [] { return false; }, 90s),
                        Catch::Contains("failed on purpose"));
    std::lock_guard lock(table.mu);
    CHECK(!table.rows.empty());
  }
  MemoryWriter writer(table, -1);
  core::ShutdownSource stop;
  runtime::SinkLoop loop(f.Options(), writer, stop.Token(), obs::Logger("test"));
  loop.Prepare();
  sluice::testing::RunLoopUntil(
      loop, stop,
      [&] {
        std::lock_guard lock(table.mu);
        std::int64_t total = 0;
        for (const auto& [p, next] : table.offsets) total += next;
        return total >= n;
      },
      90s);
  CheckTable(table, n);
  const std::map<std::string, int> dlq = f.ReadDlq();
  CHECK(dlq.size() == static_cast<std::size_t>(2 * (n / 10)));
  for (int i = 0; i < n; ++i) {
    const std::string v = Fixture::ValueOf(i);
    if (v[0] != 'v') CHECK(dlq.count(v) == 1);
  }
}
