#include <catch2/catch.hpp>

#include "sluice/obs/log.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/stage.hpp"

using namespace sluice::runtime;
using sluice::core::InfraError;
using sluice::core::Retry;

TEST_CASE("origins render for DLQ headers") {
  CHECK(Origin::Kafka("loans.raw", 3, 1042).ToString() == "loans.raw/3@1042");
  CHECK(Origin::File("data/loans.csv", 17).ToString() == "data/loans.csv:17");
  CHECK(Origin().ToString() == "");
}

TEST_CASE("outcomes are values a test can inspect") {
  Record r;
  r.key = "LC-1";
  r.value = sluice::stages::Row{{"loan_id", std::string("LC-1")}};
  r.headers = {{"sluice-origin", "a"}, {"sluice-origin", "b"}};
  CHECK(r.IsDecoded());
  CHECK(*r.FindHeader("sluice-origin") == "b");  // the last one wins, as in Kafka tooling
  CHECK(r.FindHeader("nope") == nullptr);

  Outcome emit = EmitOne(r);
  REQUIRE(std::holds_alternative<Emit>(emit));
  CHECK(std::get<Emit>(emit).records.at(0).key == "LC-1");
  Outcome reject = RejectWith("range", "annual_inc 0 below min 1");
  REQUIRE(std::holds_alternative<Reject>(reject));
  CHECK(std::get<Reject>(reject).rule == "range");
  Outcome drop = DropWith("filtered");
  CHECK(std::get<Drop>(drop).reason == "filtered");
}

TEST_CASE("WithRetry retries retryable errors and gives up when the budget is spent") {
  sluice::obs::Logger log("test");
  sluice::core::ShutdownToken never;
  RetryPolicy quick{std::chrono::milliseconds(1), std::chrono::milliseconds(2),
                    std::chrono::minutes(1)};
  int calls = 0;
  int value = WithRetry(quick, never, log, "connect", [&] {
    if (++calls < 3) throw InfraError("refused", Retry::kYes);
    return 42;
  });
  CHECK(value == 42);
  CHECK(calls == 3);

  calls = 0;
  CHECK_THROWS_WITH(WithRetry(quick, never, log, "auth",
                              [&]() -> int {
                                ++calls;
                                throw InfraError("bad password", Retry::kNo);
                              }),
                    "bad password");
  CHECK(calls == 1);  // not retried

  RetryPolicy none{std::chrono::milliseconds(10), std::chrono::milliseconds(10),
                   std::chrono::milliseconds(0)};
  try {
    WithRetry(none, never, log, "produce", []() -> int { throw InfraError("timeout", Retry::kYes); });
    FAIL("expected InfraError");
  } catch (const InfraError& e) {
    CHECK_FALSE(e.Retryable());
    CHECK(std::string(e.what()) ==
          "produce: gave up after 1 attempts within the retry budget of 0s: timeout");
  }

  sluice::core::ShutdownSource source;
  source.Request();
  try {
    WithRetry(quick, source.Token(), log, "poll", []() -> int { throw InfraError("down", Retry::kYes); });
    FAIL("expected InfraError");
  } catch (const InfraError& e) {
    CHECK(std::string(e.what()) == "poll: shutdown requested while retrying: down");
  }
}

TEST_CASE("shutdown tokens observe the source") {
  sluice::core::ShutdownSource source;
  auto token = source.Token();
  CHECK_FALSE(token.Requested());
  CHECK_FALSE(token.WaitFor(std::chrono::milliseconds(1)));
  source.Request();
  CHECK(token.Requested());
  CHECK(token.WaitFor(std::chrono::hours(1)));  // returns at once
}
