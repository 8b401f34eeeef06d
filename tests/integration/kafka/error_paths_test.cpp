// Error classification on paths a healthy broker never takes, driven by librdkafka's
// in-process mock cluster (loopback only; needs no external broker).
#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must follow rdkafka.h
#include <librdkafka/rdkafka_mock.h>

#include <catch2/catch.hpp>

#include <chrono>

#include "sluice/kafka/producer.hpp"

using namespace sluice::kafka;
using namespace std::chrono_literals;

namespace {

constexpr int16_t kApiProduce = 0;  // Kafka protocol ApiKey of Produce requests

Config MockTransactional() {
  return Config{{"test.mock.num.brokers", "1"},
                {"transactional.id", "mock-txn"},
                {"message.timeout.ms", "10000"}};
}

}  // namespace

TEST_CASE("a record that fails inside a transaction makes the commit abortable, not fatal") {
  Producer producer(MockTransactional());
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(producer.Handle());
  REQUIRE(cluster != nullptr);
  REQUIRE(rd_kafka_mock_topic_create(cluster, "mock-topic", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_mock_topic_create(cluster, "other-topic", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  producer.InitTransactions(30s);

  producer.BeginTransaction();
  rd_kafka_mock_push_request_errors(cluster, kApiProduce, 1,
                                    RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  Message m;
  m.topic = "mock-topic";
  m.partition = 0;
  m.value = std::string("doomed");
  producer.Produce(m);

  bool abortable = false;
  try {
    producer.CommitTransaction(30s);
  } catch (const KafkaError& e) {
    INFO(e.what());
    CHECK(e.TxnRequiresAbort());
    CHECK(e.Retryable());  // redoing the work after the abort can succeed
    CHECK_FALSE(e.IsFatal());
    abortable = true;
  }
  REQUIRE(abortable);
  const std::vector<DeliveryReport> failures = producer.TakeDeliveryFailures();
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].error == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);

  // Abort and redo: the producer is still usable. (librdkafka now treats mock-topic itself as
  // unauthorised, so the redo goes to another topic.)
  producer.AbortTransaction(30s);
  producer.BeginTransaction();
  m.topic = "other-topic";
  m.value = std::string("redone");
  producer.Produce(m);
  producer.CommitTransaction(30s);
  CHECK(producer.TakeDeliveryFailures().empty());
  CHECK(producer.Stats().delivered == 1);
}

TEST_CASE("records that time out are reported as delivery failures, not thrown") {
  Producer producer(Config{{"test.mock.num.brokers", "1"}, {"message.timeout.ms", "500"}});
  rd_kafka_mock_cluster_t* cluster = rd_kafka_handle_mock_cluster(producer.Handle());
  REQUIRE(cluster != nullptr);
  REQUIRE(rd_kafka_mock_topic_create(cluster, "mock-topic", 1, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  REQUIRE(rd_kafka_mock_broker_set_down(cluster, 1) == RD_KAFKA_RESP_ERR_NO_ERROR);
  Message m;
  m.topic = "mock-topic";
  m.value = std::string("x");
  producer.Produce(m);
  producer.Flush(30s);  // returns once the record has failed
  const std::vector<DeliveryReport> failures = producer.TakeDeliveryFailures();
  REQUIRE(failures.size() == 1);
  CHECK(failures[0].error == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT);
  CHECK(failures[0].topic == "mock-topic");
  CHECK(producer.Stats().failed == 1);
  CHECK(producer.Stats().delivered == 0);
}
