// The DLQ record: original bytes and key, original headers kept in order, then stage, rule,
// reason and origin appended.
#include <catch2/catch.hpp>

#include "sluice/runtime/dlq.hpp"

using namespace sluice;
using namespace sluice::runtime;

TEST_CASE("dlq: original bytes, key and headers, plus the four DLQ headers") {
  Record r;
  r.key = "LC-1";
  r.original = std::string("\0\0\0\0\1abc", 8);
  r.value = stages::Row{{"x", std::int64_t{1}}};  // decoded: the DLQ still ships the original
  r.headers = {{kHeaderSourceTs, "1700000000000"}, {kHeaderOrigin, "loans.csv:17"}};
  r.origin = Origin::Kafka("loans.raw", 3, 1042);
  auto m = MakeDlqMessage("loans.dlq", r, {"cleaner", "duplicate", "loan_id seen before"});
  CHECK(m.topic == "loans.dlq");
  CHECK(m.key == std::optional<std::string>("LC-1"));
  CHECK(m.value == std::optional<std::string>(std::string("\0\0\0\0\1abc", 8)));
  REQUIRE(m.headers.size() == 6);
  CHECK(m.headers[0].name == kHeaderSourceTs);
  CHECK(m.headers[1].value == std::optional<std::string>("loans.csv:17"));
  CHECK(kafka::FindLastHeader(m.headers, kHeaderStage)->value == std::optional<std::string>("cleaner"));
  CHECK(kafka::FindLastHeader(m.headers, kHeaderRule)->value == std::optional<std::string>("duplicate"));
  CHECK(kafka::FindLastHeader(m.headers, kHeaderReason)->value ==
        std::optional<std::string>("loan_id seen before"));
  // The last origin is where this stage read it; the upstream one stays before it.
  CHECK(kafka::FindLastHeader(m.headers, kHeaderOrigin)->value ==
        std::optional<std::string>("loans.raw/3@1042"));
}

TEST_CASE("dlq: file origins, raw bytes, empty keys") {
  Record r;
  r.value = Bytes("a,b,\"c");
  r.origin = Origin::File("data/loans.csv", 17);
  auto m = MakeDlqMessage("p.dlq", r, {"producer", "csv", "unterminated quote"});
  CHECK_FALSE(m.key.has_value());
  CHECK(m.value == std::optional<std::string>("a,b,\"c"));
  CHECK(kafka::FindLastHeader(m.headers, kHeaderOrigin)->value ==
        std::optional<std::string>("data/loans.csv:17"));
  Record none;
  auto n = MakeDlqMessage("p.dlq", none, {"sink", "pg", "x"});
  CHECK(kafka::FindLastHeader(n.headers, kHeaderOrigin) == nullptr);
  CHECK_FALSE(n.value.has_value());
}

TEST_CASE("dlq: header conversion keeps order and repeats") {
  kafka::Headers k{{"a", std::string("1")}, {"a", std::nullopt}, {"b", std::string("2")}};
  Headers h = FromKafkaHeaders(k);
  REQUIRE(h.size() == 3);
  CHECK(h[1] == Header{"a", ""});
  auto back = ToKafkaHeaders(h);
  CHECK(back[2] == kafka::Header{"b", std::string("2")});
}
