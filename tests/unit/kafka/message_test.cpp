#include "sluice/kafka/message.hpp"

#include <catch2/catch.hpp>

#include <tuple>

#include "sluice/kafka/detail/rdkafka_glue.hpp"
#include "sluice/kafka/error.hpp"

using namespace sluice::kafka;

TEST_CASE("headers survive the round trip through librdkafka's header list") {
  const Headers headers{
      {"trace", std::string("abc")},
      {"null-value", std::nullopt},
      {"dup", std::string("first")},
      {"empty", std::string()},
      {"dup", std::string("second")},
      {"binary", std::string("\0\xff\x01", 3)},
  };
  detail::HeadersPtr rd = detail::ToRdHeaders(headers);
  REQUIRE(rd_kafka_header_cnt(rd.get()) == headers.size());
  const Headers back = detail::FromRdHeaders(rd.get());
  CHECK(back == headers);
  CHECK(back[1].value == std::nullopt);
  REQUIRE(back[3].value.has_value());
  CHECK(back[3].value->empty());
  CHECK(back[5].value->size() == 3);
}

TEST_CASE("no headers give an empty list") {
  CHECK(detail::FromRdHeaders(nullptr).empty());
  detail::HeadersPtr rd = detail::ToRdHeaders({});
  CHECK(detail::FromRdHeaders(rd.get()).empty());
}

TEST_CASE("the last header with a name is the header's value") {
  const Headers headers{{"a", std::string("1")}, {"b", std::nullopt}, {"a", std::string("2")}};
  REQUIRE(FindLastHeader(headers, "a") != nullptr);
  CHECK(FindLastHeader(headers, "a")->value == "2");
  REQUIRE(FindLastHeader(headers, "b") != nullptr);
  CHECK_FALSE(FindLastHeader(headers, "b")->value.has_value());
  CHECK(FindLastHeader(headers, "c") == nullptr);
}

TEST_CASE("partition lists convert both ways with offsets") {
  const std::vector<TopicPartitionOffset> offsets{{"t1", 0, 5}, {"t2", 3, kOffsetBeginning}};
  detail::PartitionListPtr list = detail::ToPartitionList(offsets);
  CHECK(detail::OffsetsOf(list.get()) == offsets);
  const std::vector<TopicPartition> parts{{"t1", 0}, {"t2", 3}};
  CHECK(detail::PartitionsOf(list.get()) == parts);
  CHECK(Message{"t", 2, 41}.NextOffset() == TopicPartitionOffset{"t", 2, 42});
}

TEST_CASE("special offsets match librdkafka's") {
  CHECK(kOffsetBeginning == RD_KAFKA_OFFSET_BEGINNING);
  CHECK(kOffsetEnd == RD_KAFKA_OFFSET_END);
  CHECK(kOffsetStored == RD_KAFKA_OFFSET_STORED);
  CHECK(kOffsetInvalid == RD_KAFKA_OFFSET_INVALID);
  CHECK(kPartitionAny == RD_KAFKA_PARTITION_UA);
}

TEST_CASE("error codes are classified by what the caller should do") {
  const KafkaError timeout = KafkaError::FromCode("commit", RD_KAFKA_RESP_ERR__TIMED_OUT);
  CHECK(timeout.IsRetriable());
  CHECK(timeout.Retryable());
  CHECK_THAT(timeout.what(), Catch::Contains("commit"));
  CHECK_THAT(timeout.what(), Catch::Contains("_TIMED_OUT"));

  const KafkaError unknown =
      KafkaError::FromCode("produce", RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED);
  CHECK(unknown.Kind() == ErrorKind::kPermanent);
  CHECK_FALSE(unknown.Retryable());

  const KafkaError fatal = KafkaError::FromCode("produce", RD_KAFKA_RESP_ERR__FATAL);
  CHECK(fatal.IsFatal());
  CHECK_FALSE(fatal.Retryable());

  // An rd_kafka_error_t without librdkafka's retriable/abortable/fatal flags and with a
  // non-transient code is permanent (the flagged cases are covered by the broker tests).
  rd_kafka_error_t* raw = rd_kafka_error_new(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH, "%s", "x");
  const KafkaError plain = KafkaError::FromError("commit_transaction", raw);
  CHECK(plain.Kind() == ErrorKind::kPermanent);
  CHECK(plain.Code() == RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH);
}

TEST_CASE("NextOffsets gives the highest offset + 1 per partition") {
  std::vector<Message> batch;
  for (auto [topic, partition, offset] :
       std::vector<std::tuple<std::string, int, std::int64_t>>{
           {"b", 0, 7}, {"a", 1, 3}, {"b", 0, 5}, {"a", 0, 9}, {"a", 1, 4}}) {
    Message m;
    m.topic = topic;
    m.partition = partition;
    m.offset = offset;
    batch.push_back(m);
  }
  const std::vector<TopicPartitionOffset> expected{{"a", 0, 10}, {"a", 1, 5}, {"b", 0, 8}};
  CHECK(NextOffsets(batch) == expected);
  CHECK(NextOffsets({}).empty());
}
