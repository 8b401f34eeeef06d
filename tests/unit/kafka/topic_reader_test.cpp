// TopicReader without a broker: range validation, and empty ranges that are at their end
// without fetching or asking anything (the config names no broker at all).
#include "sluice/kafka/topic_reader.hpp"

#include <catch2/catch.hpp>

#include <stdexcept>

using namespace sluice::kafka;
using namespace std::chrono_literals;

namespace {

std::vector<PartitionRange> Ranges(std::vector<PartitionRange> r) { return r; }

}  // namespace

TEST_CASE("topic reader: ranges it cannot read are programmer errors") {
  CHECK_THROWS_AS(TopicReader(Config{}, Ranges({{{"t", 0}, 0, 5}, {{"t", 0}, 5, 9}})),
                  std::invalid_argument);
  CHECK_THROWS_AS(TopicReader(Config{}, Ranges({{{"t", 0}, kOffsetStored, 5}})),
                  std::invalid_argument);
  CHECK_THROWS_AS(TopicReader(Config{}, Ranges({{{"t", 0}, 0, kOffsetBeginning}})),
                  std::invalid_argument);
  CHECK_THROWS_WITH(TopicReader(Config{}, Ranges({{{"t", 3}, kOffsetInvalid, 5}})),
                    Catch::Contains("t[3]"));
}

TEST_CASE("topic reader: empty ranges are at their end without a broker") {
  TopicReader reader(Config{}, Ranges({{{"a", 0}, 7, 7}, {{"a", 1}, 9, 4}, {{"b", 0}, 0, 0}}));
  CHECK(reader.AtEnd());
  CHECK(reader.Ends() == std::vector<TopicPartitionOffset>{{"a", 0, 7}, {"a", 1, 4}, {"b", 0, 0}});
  CHECK(reader.Positions() ==
        std::vector<TopicPartitionOffset>{{"a", 0, 7}, {"a", 1, 9}, {"b", 0, 0}});
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(reader.Read([](const Message&) { FAIL("a record from an empty range"); }, 10, 10s) == 0);
  CHECK(reader.ReadToEnd([](const Message&) {}, std::chrono::steady_clock::now() + 10s));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  reader.Close();
  reader.Close();  // idempotent
}

TEST_CASE("topic reader: no ranges at all is at its end") {
  TopicReader reader(Config{}, std::vector<PartitionRange>{});
  CHECK(reader.AtEnd());
  CHECK(reader.Positions().empty());
}

TEST_CASE("topic reader: a followed partition is never at its end") {
  // A partition with no end would be fetched; with no broker it only waits, so the deadline
  // (and `stop`) end the read.
  TopicReader reader(Config{}, Ranges({{{"t", 0}, 0, kNoEnd}}));
  CHECK_FALSE(reader.AtEnd());
  CHECK(reader.Ends().front().offset == kNoEnd);
  CHECK_FALSE(reader.ReadToEnd([](const Message&) {}, std::chrono::steady_clock::now() + 10s,
                               [] { return true; }));
  CHECK_THROWS_AS(reader.ReadToEnd([](const Message&) {}, std::chrono::steady_clock::now() + 300ms),
                  ReadDeadlineError);
}
