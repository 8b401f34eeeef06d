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

namespace {

std::string HeaderOf(const kafka::Message& m, const char* name) {
  const kafka::Header* h = kafka::FindLastHeader(m.headers, name);
  return h && h->value ? *h->value : "<none>";
}

Record Big(std::size_t value_bytes) {
  Record r;
  r.key = "K-1";
  r.original = std::string(value_bytes, 'v');
  r.headers = {{kHeaderSourceTs, "1700000000000"}, {kHeaderOrigin, "loans.csv:17"}};
  r.origin = Origin::Kafka("loans.raw", 2, 77);
  return r;
}

}  // namespace

TEST_CASE("dlq: a record that fits its limit is not cut") {
  const Record r = Big(1000);
  const kafka::Message whole = MakeDlqMessage("p.dlq", r, {"cleaner", "range", "too big"});
  const kafka::Message limited =
      MakeDlqMessage("p.dlq", r, {"cleaner", "range", "too big"}, WireSize(whole));
  CHECK(limited.value == whole.value);
  CHECK(limited.key == whole.key);
  CHECK(limited.headers == whole.headers);
  CHECK(HeaderOf(limited, kHeaderTruncated) == "<none>");
}

TEST_CASE("dlq: a record over the limit keeps its headers and key, cuts its value and says so") {
  const Record r = Big(5 * 1024 * 1024);
  const std::size_t limit = 1'000'000;
  const kafka::Message m = MakeDlqMessage("p.dlq", r, {"pg-sink", "too_large", "5 MB"}, limit);
  CHECK(WireSize(m) <= limit);
  CHECK(WireSize(m) > limit - 200);  // as much of the value as fits
  CHECK(m.key == std::optional<std::string>("K-1"));
  REQUIRE(m.value);
  CHECK(*m.value == std::string(m.value->size(), 'v'));  // a prefix of the original
  CHECK(HeaderOf(m, kHeaderTruncated) == "value");
  CHECK(HeaderOf(m, kHeaderOriginalBytes) == std::to_string(5 * 1024 * 1024));
  CHECK(HeaderOf(m, kHeaderStage) == "pg-sink");
  CHECK(HeaderOf(m, kHeaderRule) == "too_large");
  CHECK(HeaderOf(m, kHeaderReason) == "5 MB");
  CHECK(HeaderOf(m, kHeaderOrigin) == "loans.raw/2@77");
  CHECK(HeaderOf(m, kHeaderSourceTs) == "1700000000000");  // upstream headers kept
}

TEST_CASE("dlq: a huge key and huge upstream headers are cut after the value, DLQ headers stay") {
  Record r = Big(10);
  r.key = std::string(50'000, 'k');
  for (int i = 0; i < 20; ++i) r.headers.push_back({"x-upstream", std::string(5'000, 'h')});
  const std::size_t limit = 16 * 1024;
  const kafka::Message m = MakeDlqMessage("p.dlq", r, {"cleaner", "drop", "why"}, limit);
  CHECK(WireSize(m) <= limit);
  CHECK(HeaderOf(m, kHeaderTruncated) == "value,key,headers");
  CHECK(m.key->size() == 1024);
  CHECK(HeaderOf(m, kHeaderRule) == "drop");
  CHECK(HeaderOf(m, kHeaderOrigin) == "loans.raw/2@77");
  CHECK(HeaderOf(m, kHeaderOriginalBytes) == "10");
}

TEST_CASE("dlq: a reason is cut at kMaxReasonBytes whatever the limit") {
  Record r = Big(1);
  const kafka::Message m =
      MakeDlqMessage("p.dlq", r, {"cleaner", "regex", std::string(100'000, 'r')});
  CHECK(HeaderOf(m, kHeaderReason).size() == kMaxReasonBytes);
}

TEST_CASE("dlq: the limit is the smaller of the topic's max.message.bytes and the producer's "
          "message.max.bytes, with Kafka's and librdkafka's defaults") {
  CHECK(DlqLimitOf({}, {}) == 1'000'000);
  CHECK(DlqLimitOf({{"max.message.bytes", "524288"}}, {}) == 524'288);
  CHECK(DlqLimitOf({}, {{"message.max.bytes", "10485760"}}) == 1'048'588);
  CHECK(DlqLimitOf({{"max.message.bytes", "10485760"}}, {{"message.max.bytes", "10485760"}}) ==
        10'485'760);
  CHECK(DlqLimitOf({{"max.message.bytes", "junk"}}, {}) == 1'000'000);
}

TEST_CASE("dlq: batches are capped at the DLQ limit only when it is below librdkafka's default "
          "and the pipeline leaves batch.size alone") {
  kafka::Config small;
  FitBatchesToDlq(small, 524'288);
  CHECK(small.Get("batch.size") == std::optional<std::string>("524288"));
  kafka::Config big;
  FitBatchesToDlq(big, 1'048'588);
  CHECK_FALSE(big.Has("batch.size"));
  kafka::Config set;
  set.Set("batch.size", "4096");
  FitBatchesToDlq(set, 524'288);
  CHECK(set.Get("batch.size") == std::optional<std::string>("4096"));
}
