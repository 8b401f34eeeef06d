#include <catch2/catch.hpp>

#include "sluice/obs/log.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/stage.hpp"

using namespace sluice::runtime;
using sluice::stages::DlqCode;
using sluice::stages::Outcome;
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

  StageResult emit = EmitOne(r);
  REQUIRE(emit.outcome.IsEmit());
  CHECK(emit.records.at(0).key == "LC-1");
  StageResult reject = Outcome::RuleReject("range", "annual_inc 0 below min 1");
  REQUIRE(reject.outcome.IsReject());
  CHECK(reject.outcome.rule() == "range");
  CHECK(reject.records.empty());
  StageResult drop = Outcome::Drop("filter", "filtered");
  CHECK(drop.outcome.reason() == "filtered");
}

TEST_CASE("an outcome names its DLQ headers: the rule's name, a fixed word, or drop") {
  const Outcome by_rule = Outcome::RuleReject("annual_inc_range", "annual_inc: 0 is outside [1, 1e9]");
  CHECK(by_rule.code() == DlqCode::kRule);
  CHECK(by_rule.DlqRule() == "annual_inc_range");
  CHECK(by_rule.DlqReason() == "annual_inc: 0 is outside [1, 1e9]");

  const Outcome typed = Outcome::Reject(DlqCode::kType, "term: not an int");
  CHECK(typed.IsReject());
  CHECK(typed.rule() == "type");
  CHECK(typed.DlqRule() == Word(DlqCode::kType));
  CHECK(typed.DlqReason() == "term: not an int");

  // A drop is dead-lettered under the fixed word; the rule that dropped leads the reason.
  const Outcome dropped = Outcome::Drop("dup", "duplicate key");
  CHECK(dropped.IsDeadLettered());
  CHECK(dropped.rule() == "dup");
  CHECK(dropped.DlqRule() == "drop");
  CHECK(dropped.DlqReason() == "dup: duplicate key");

  CHECK(Outcome().IsEmit());
  CHECK(!Outcome::Emit().IsDeadLettered());
  CHECK(!Outcome::Skip().IsDeadLettered());
  CHECK(KindName(Outcome::Skip().kind()) == "skip");
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
