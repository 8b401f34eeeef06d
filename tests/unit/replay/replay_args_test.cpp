// The command line of sluice-replay (services/replay/replay.hpp): times, rates, the range
// options, and what goes on to the daemon runtime.
#include <catch2/catch.hpp>

#include "replay.hpp"

using sluice::replay::ParseRate;
using sluice::replay::ParseTime;
using sluice::replay::ReplayArgs;
using sluice::replay::TakeReplayArgs;

TEST_CASE("times are ISO 8601 UTC or milliseconds since the epoch") {
  CHECK(ParseTime("1764928800000") == 1764928800000);
  CHECK(ParseTime("2025-12-05T10:00:00Z") == 1764928800000);
  CHECK(ParseTime("2025-12-05T10:00:00.250Z") == 1764928800250);
  CHECK(ParseTime("2025-12-05T10:00:00+00:00") == 1764928800000);
  CHECK(ParseTime("2025-12-05T10:00:00") == 1764928800000);
  CHECK_FALSE(ParseTime("2025-12-05T10:00:00+02:00"));
  CHECK_FALSE(ParseTime("yesterday"));
  CHECK_FALSE(ParseTime(""));
  CHECK_FALSE(ParseTime("2025-12-05T10:00:00."));
}

TEST_CASE("rates are positive records per second, with or without /s") {
  CHECK(ParseRate("500/s") == 500.0);
  CHECK(ParseRate("2.5") == 2.5);
  CHECK_FALSE(ParseRate("0/s"));
  CHECK_FALSE(ParseRate("-3"));
  CHECK_FALSE(ParseRate("fast"));
  CHECK_FALSE(ParseRate("500/m"));
}

TEST_CASE("the replay options are taken out and --pipeline becomes --config") {
  std::vector<std::string> argv = {"--pipeline", "p.yaml", "--through", "enricher", "--from-offsets",
                                   "0:10,2:7", "--to-time=1000", "--rate", "100/s", "--dry-run",
                                   "--log-format", "text"};
  ReplayArgs args;
  REQUIRE_FALSE(TakeReplayArgs(argv, &args));
  CHECK(argv == std::vector<std::string>{"--config", "p.yaml", "--log-format", "text"});
  CHECK(args.through == sluice::config::Stage::kEnricher);
  CHECK(args.from == ReplayArgs::From::kOffsets);
  CHECK(args.from_offsets == std::vector<std::pair<std::int32_t, std::int64_t>>{{0, 10}, {2, 7}});
  CHECK(args.to_time_ms == 1000);
  CHECK(args.rate == 100.0);
  CHECK(args.dry_run);
  CHECK_FALSE(args.restart);
}

TEST_CASE("a replay needs a stage and exactly one start") {
  auto error = [](std::vector<std::string> argv) {
    ReplayArgs args;
    return TakeReplayArgs(argv, &args).value_or("");
  };
  CHECK(error({"--pipeline", "p.yaml", "--from-beginning"}) == "--through cleaner|enricher is required");
  CHECK(error({"--through", "cleaner"}).find("exactly one of") != std::string::npos);
  CHECK(error({"--through", "cleaner", "--from-beginning", "--from-time", "5"}).find("exactly one of") !=
        std::string::npos);
  CHECK(error({"--through", "pg-sink", "--from-beginning"}).find("cleaner or enricher") != std::string::npos);
  CHECK(error({"--through", "cleaner", "--from-offsets", "0-5"}).find("partition:offset") != std::string::npos);
  CHECK(error({"--through", "cleaner", "--from-time"}) == "--from-time needs a value");
  CHECK(error({"--through", "cleaner", "--from-beginning", "--rate", "0"}).find("--rate") != std::string::npos);
  // --help and --check need no range.
  CHECK(error({"--help"}).empty());
  CHECK(error({"--pipeline", "p.yaml", "--check"}).empty());
}
