#include "sluice/kafka/config.hpp"

#include <catch2/catch.hpp>

#include "sluice/core/error.hpp"
#include "sluice/kafka/admin.hpp"
#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/producer.hpp"

using sluice::core::ConfigError;
using namespace sluice::kafka;

namespace {

std::string ValidationMessage(const Config& config) {
  try {
    Validate(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("unknown librdkafka keys are rejected with the key and librdkafka's reason") {
  const std::string message = ValidationMessage(Config{{"bootstrap.servers", "127.0.0.1:1"},
                                                       {"linger.mss", "5"}});
  CHECK_THAT(message, Catch::Contains("'linger.mss'"));
  CHECK_THAT(message, Catch::Contains("No such configuration property"));
}

TEST_CASE("invalid values are rejected with the key, the value and librdkafka's reason") {
  const std::string message = ValidationMessage(Config{{"acks", "sometimes"}});
  CHECK_THAT(message, Catch::Contains("'acks'"));
  CHECK_THAT(message, Catch::Contains("'sometimes'"));
  CHECK_THAT(message, Catch::Contains("Invalid value"));
}

TEST_CASE("valid librdkafka properties pass through untouched") {
  CHECK_NOTHROW(Validate(Config{{"bootstrap.servers", "127.0.0.1:1"},
                                {"linger.ms", "5"},
                                {"compression.type", "zstd"},
                                {"statistics.interval.ms", "0"}}));
}

TEST_CASE("defaults fill gaps but never override the user's value") {
  const Config user{{"isolation.level", "read_uncommitted"}, {"group.id", "g"}};
  const Config merged = user.WithDefaults(DefaultsFor(ClientRole::kConsumer));
  CHECK(merged.Get("isolation.level") == "read_uncommitted");
  CHECK(merged.Get("group.id") == "g");
  CHECK(merged.Get("enable.auto.commit") == "false");
  CHECK(merged.Get("enable.auto.offset.store") == "false");
  CHECK(merged.Get("partition.assignment.strategy") == "cooperative-sticky");
  CHECK(DefaultsFor(ClientRole::kProducer).Get("enable.idempotence") == "true");
  CHECK_FALSE(DefaultsFor(ClientRole::kAdmin).Has("enable.idempotence"));
}

TEST_CASE("client construction reports bad configuration as ConfigError") {
  // None of these connect anywhere: construction fails before any network I/O.
  CHECK_THROWS_AS(Producer(Config{{"no.such.key", "1"}}), ConfigError);
  CHECK_THROWS_WITH(Consumer(Config{}),
                    Catch::Contains("group.id"));
  CHECK_THROWS_AS(Admin(Config{{"socket.timeout.ms", "not-a-number"}}), ConfigError);
  // Accepted key by key, but rejected by rd_kafka_new as a combination.
  CHECK_THROWS_WITH(Producer(Config{{"transactional.id", "t"}, {"enable.idempotence", "false"}}),
                    Catch::Contains("librdkafka rejected the configuration"));
}

TEST_CASE("a producer and an admin client can be built and destroyed without a broker") {
  // No bootstrap.servers: nothing is contacted, and destruction must not wait for anything.
  Producer producer(Config{});
  CHECK_FALSE(producer.Transactional());
  CHECK(producer.Stats().delivered == 0);
  Admin admin(Config{});
  Producer txn(Config{{"transactional.id", "unit-test"}});
  CHECK(txn.Transactional());
}

TEST_CASE("transaction calls on a non-transactional producer are permanent errors") {
  Producer producer(Config{});
  try {
    producer.BeginTransaction();
    FAIL("BeginTransaction should throw");
  } catch (const KafkaError& e) {
    CHECK(e.Kind() == ErrorKind::kPermanent);
    CHECK_FALSE(e.Retryable());
    CHECK_THAT(e.what(), Catch::Contains("transactional.id"));
  }
}
