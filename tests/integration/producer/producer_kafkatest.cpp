// The real sluice-producer binary against the real broker and the real sluice-registry
// binary: malformed rows to the DLQ with file, line and reason; kill -9 mid-file then a
// restart gives every row exactly once; re-feeding the same content (even under another
// name) adds nothing; a file dropped into the watched directory is picked up.
// Every test uses its own pipeline name, topics and registry schemas topic.
#include <catch2/catch.hpp>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <librdkafka/rdkafka.h>
#include <nlohmann/json.hpp>

#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/message.hpp"
#include "sluice/kafka/topic_reader.hpp"
#include "support/child_process.hpp"
#include "support/settled.hpp"
#include "support/stack_env.hpp"

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using sluice::testing::ChildProcess;
using sluice::testing::FreePort;
using sluice::testing::RandomSuffix;
using sluice::testing::RegistryProcess;
using sluice::testing::RequireEnv;

namespace {

constexpr auto kBound = std::chrono::seconds(180);  // upper bound of any wait: hitting it fails

struct Consumed {
  std::string key, value;
  std::map<std::string, std::string> headers;  // last value per name
};

// Every committed record of `topic` (read_committed, from the beginning to its end). `settle`:
// first wait for the commit markers of the last transactions (only once the producer is idle).
std::vector<Consumed> ReadAll(const std::string& topic, bool settle = true) {
  if (settle) {
    REQUIRE(sluice::testing::AwaitSettled(
      {{"bootstrap.servers", RequireEnv("SLUICE_KAFKA_BROKERS")}}, {topic}, kBound));
  }
  sluice::kafka::TopicReader reader({{"bootstrap.servers", RequireEnv("SLUICE_KAFKA_BROKERS")}},
                                    topic);
  std::vector<Consumed> out;
  const bool at_end = reader.ReadToEnd(
      [&](const sluice::kafka::Message& m) {
        Consumed c;
        c.key = m.key.value_or("");
        c.value = m.value.value_or("");
        for (const auto& h : m.headers) c.headers[h.name] = h.value.value_or("");
        out.push_back(std::move(c));
      },
      std::chrono::steady_clock::now() + kBound);
  REQUIRE(at_end);
  return out;
}

// Sum of high watermarks (committed and uncommitted records plus markers): progress hint only.
std::int64_t HighWatermarks(const std::string& topic) {
  sluice::kafka::Admin admin({{"bootstrap.servers", RequireEnv("SLUICE_KAFKA_BROKERS")}});
  std::int64_t sum = 0;
  int partitions = 0;
  try {
    partitions = admin.PartitionCount(topic, 30s);
  } catch (const std::exception&) {
    return 0;  // not created yet
  }
  for (int p = 0; p < partitions; ++p) {
    int64_t lo = 0, hi = 0;
    if (rd_kafka_query_watermark_offsets(admin.Handle(), topic.c_str(), p, &lo, &hi, 10000) == 0) sum += hi;
  }
  return sum;
}

// A test pipeline: unique name and topics, the loans raw schema, a csv source on `dir`, and
// its own sluice-registry.
struct Pipeline {
  std::string name = "ptest" + RandomSuffix();
  fs::path work = fs::temp_directory_path() / ("sluice-producer-it-" + RandomSuffix());
  fs::path dir = work / "in";
  fs::path file = work / "pipeline.yaml";
  std::string raw = name + ".raw", dlq = name + ".dlq", positions = name + ".positions";
  RegistryProcess registry{"_schemas." + name};

  Pipeline(int batch_size, bool watch) {
    registry.WaitReady();
    fs::create_directories(dir);
    std::ofstream out(file);
    out << "pipeline: " << name << "\n"
        << "topics: {raw: " << raw << ", clean: " << name << ".clean, enriched: " << name
        << ".enriched, dlq: " << dlq << ", partitions: 3}\n"
        << "schemas: {raw: " << SLUICE_SOURCE_DIR << "/pipelines/loans/schemas/loans.raw.v1.avsc}\n"
        << "producer:\n"
        << "  sources:\n"
        << "    - {type: csv, name: loans, dir: " << dir.string() << ", glob: '*.csv', watch: "
        << (watch ? "true" : "false") << ", poll_interval: 200ms, columns: {Class: loan_class}}\n"
        << "  key: [loan_id]\n"
        << "  id: {field: loan_id, prefix: LC-}\n"  // id from every column + line: unique per row
        << "  batch_size: " << batch_size << "\n";
  }
  ~Pipeline() {
    std::error_code ec;
    fs::remove_all(work, ec);
    registry.Stop();  // before its topic goes
    try {
      sluice::kafka::Admin admin({{"bootstrap.servers", RequireEnv("SLUICE_KAFKA_BROKERS")}});
      admin.DeleteTopics({raw, dlq, positions, name + ".clean", name + ".enriched", registry.SchemasTopic()}, 30s);
    } catch (const std::exception& e) {
      WARN("could not delete test topics: " << e.what());
    }
  }

  std::unique_ptr<ChildProcess> Start(bool once) {
    std::vector<std::string> argv{std::string(SLUICE_BINARY_DIR) + "/bin/sluice-producer", "--config",
                                  file.string(), "--http-port", std::to_string(FreePort()),
                                  "--log-level", "warn"};
    if (once) argv.push_back("--once");
    return std::make_unique<ChildProcess>(argv, std::map<std::string, std::string>{
        {"SLUICE_KAFKA_BROKERS", RequireEnv("SLUICE_KAFKA_BROKERS")}, {"SLUICE_REGISTRY_URL", registry.Url()}});
  }
  int RunOnce() { return Start(true)->WaitExit(kBound); }
};

void Python(const std::string& args) {
  std::string cmd = "python3 " + std::string(SLUICE_TEST_DATA_DIR) + "/loans/loan_data.py " + args + " > /dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
}

std::size_t CountLines(const fs::path& p) {
  std::ifstream in(p);
  std::size_t n = 0;
  std::string line;
  while (std::getline(in, line)) ++n;
  return n;
}

}  // namespace

TEST_CASE("malformed rows go to the DLQ with file, line and reason, rows in = raw + DLQ, re-feeding adds nothing") {
  Pipeline p(500, false);
  const fs::path gen = p.work / "gen";
  Python("bad-mix --seed 11 --per-kind 3 --crlf --out " + gen.string());
  const auto expected = nlohmann::json::parse(std::ifstream(gen / "lending_club_bad_mix.expected.json"));
  fs::copy_file(gen / "lending_club_bad_mix.csv", p.dir / "loans_bad.csv");

  REQUIRE(p.RunOnce() == 0);
  const auto raw = ReadAll(p.raw);
  const auto dlq = ReadAll(p.dlq);
  const std::size_t items = expected["items"].get<std::size_t>();
  std::map<std::uint64_t, nlohmann::json> producer_bad;
  for (const auto& b : expected["bad"]) {
    if (b["stage"] == "producer") producer_bad[b["line"].get<std::uint64_t>()] = b;
  }
  CHECK(raw.size() + dlq.size() == items);
  CHECK(dlq.size() == producer_bad.size());
  std::set<std::uint64_t> dlq_lines;
  for (const auto& d : dlq) {
    INFO("DLQ record value: " << d.value);
    REQUIRE(d.headers.count("sluice-dlq-reason"));
    REQUIRE(d.headers.count("sluice-source-line"));
    CHECK(d.headers.at("sluice-source-file") == "loans_bad.csv");
    CHECK(d.headers.at("sluice-dlq-stage") == "producer");
    const std::uint64_t line = std::stoull(d.headers.at("sluice-source-line"));
    CHECK(d.headers.at("sluice-origin").find("loans_bad.csv:" + std::to_string(line)) != std::string::npos);
    dlq_lines.insert(line);
    auto it = producer_bad.find(line);
    if (it == producer_bad.end()) {
      FAIL_CHECK("unexpected DLQ line " << line << ": " << d.headers.at("sluice-dlq-reason"));
      continue;
    }
    CHECK(d.headers.at("sluice-dlq-rule") == it->second["rule"].get<std::string>());
    CHECK(d.headers.at("sluice-dlq-reason").find(it->second["reason"].get<std::string>()) != std::string::npos);
  }
  CHECK(dlq_lines.size() == dlq.size());
  for (const auto& r : raw) {
    CHECK(r.key.rfind("LC-", 0) == 0);
    CHECK(r.value.size() > 5);
    CHECK(r.value[0] == '\0');  // Confluent wire format magic byte
    CHECK(r.headers.count("sluice-source-ts") == 1);
  }

  // Re-feed: the same bytes under another name, and the original again.
  fs::copy_file(p.dir / "loans_bad.csv", p.dir / "loans_bad_again.csv");
  REQUIRE(p.RunOnce() == 0);
  CHECK(ReadAll(p.raw).size() == raw.size());
  CHECK(ReadAll(p.dlq).size() == dlq.size());
}

TEST_CASE("kill -9 mid-file, then restarts: every row exactly once in the raw topic") {
  Pipeline p(500, true);
  const fs::path gen = p.work / "gen";
  fs::create_directories(gen);
  constexpr std::size_t kRows = 100000;
  Python("synthetic --seed 3 --rows " + std::to_string(kRows) + " --out " + (gen / "big.csv").string());
  REQUIRE(CountLines(gen / "big.csv") == kRows + 1);
  // Written elsewhere, then renamed into place (the documented way to drop a file).
  fs::rename(gen / "big.csv", p.dir / "big.csv");

  std::mt19937 rng(std::random_device{}());
  for (int round = 0; round < 2; ++round) {
    auto proc = p.Start(false);
    // Kill once the raw topic has grown by a random amount (mid-file, mid-transaction likely).
    const std::int64_t before = HighWatermarks(p.raw);
    const std::int64_t target = before + 3000 + static_cast<std::int64_t>(rng() % 20000);
    const auto deadline = std::chrono::steady_clock::now() + kBound;
    while (HighWatermarks(p.raw) < target) {
      REQUIRE(proc->Running());
      if (std::chrono::steady_clock::now() > deadline) FAIL("producer made no progress");
      std::this_thread::sleep_for(20ms);
    }
    proc->Signal(SIGKILL);
    CHECK(proc->Wait() == 128 + SIGKILL);
  }
  REQUIRE(p.RunOnce() == 0);
  const auto raw = ReadAll(p.raw);
  std::set<std::uint64_t> lines;
  std::set<std::string> keys;
  for (const auto& r : raw) {
    lines.insert(std::stoull(r.headers.at("sluice-source-line")));
    keys.insert(r.key);
  }
  CHECK(raw.size() == kRows);
  CHECK(lines.size() == kRows);
  CHECK(keys.size() == kRows);
  CHECK(*lines.begin() == 2);
  CHECK(*lines.rbegin() == kRows + 1);
  CHECK(ReadAll(p.dlq).empty());
}

TEST_CASE("a file dropped into the watched directory is picked up, SIGTERM exits 0") {
  Pipeline p(100, true);
  auto proc = p.Start(false);
  // Written under a temporary name first: ignored until renamed.
  const fs::path tmp = p.dir / "drop.csv.tmp";
  fs::copy_file(fs::path(SLUICE_TEST_DATA_DIR) / "loans" / "lending_club.csv", tmp);
  const std::size_t rows = CountLines(tmp) - 1;
  std::this_thread::sleep_for(300ms);
  fs::rename(tmp, p.dir / "drop.csv");
  const auto deadline = std::chrono::steady_clock::now() + kBound;
  std::size_t got = 0;
  auto count = [&]() -> std::size_t {
    if (HighWatermarks(p.raw) == 0) return 0;  // topic not created or empty yet
    return ReadAll(p.raw, false).size();  // a progress poll
  };
  while ((got = count()) < rows) {
    REQUIRE(proc->Running());
    if (std::chrono::steady_clock::now() > deadline) FAIL("only " << got << " of " << rows << " rows arrived");
    std::this_thread::sleep_for(500ms);
  }
  proc->Signal(SIGTERM);
  CHECK(proc->Wait() == 0);
  CHECK(ReadAll(p.raw).size() == rows);
  CHECK(ReadAll(p.dlq).empty());
}

TEST_CASE("a 20 MB CSV line is too_large: dead-lettered cut to the DLQ's limit with its headers, "
          "and the rows around it load") {
  Pipeline p(500, false);
  std::ifstream sample(std::string(SLUICE_TEST_DATA_DIR) + "/loans/lending_club.csv");
  std::string header, line;
  std::vector<std::string> rows;
  std::getline(sample, header);
  while (rows.size() < 6 && std::getline(sample, line)) rows.push_back(line);
  REQUIRE(rows.size() == 6);
  const std::string huge = rows[0] + std::string(20 * 1024 * 1024, 'z');
  {
    std::ofstream out(p.dir / "loans_huge.csv", std::ios::binary);
    out << header << "\n";
    for (int i = 0; i < 3; ++i) out << rows[i] << "\n";
    out << huge << "\n";
    for (int i = 3; i < 6; ++i) out << rows[i] << "\n";
  }
  REQUIRE(p.RunOnce() == 0);
  const auto raw = ReadAll(p.raw);
  const auto dlq = ReadAll(p.dlq);
  CHECK(raw.size() == 6);
  REQUIRE(dlq.size() == 1);
  const Consumed& d = dlq[0];
  CHECK(d.headers.at("sluice-dlq-rule") == "too_large");
  CHECK(d.headers.at("sluice-dlq-stage") == "producer");
  CHECK(d.headers.at("sluice-dlq-truncated") == "value");
  CHECK(d.headers.at("sluice-dlq-original-bytes") == std::to_string(huge.size()));
  CHECK(d.headers.at("sluice-source-line") == "5");
  CHECK(d.headers.at("sluice-origin").find("loans_huge.csv:5") != std::string::npos);
  CHECK(d.value.size() < 1'000'000);
  CHECK(huge.compare(0, d.value.size(), d.value) == 0);  // a prefix of the line
}
