#include "sluice/core/duration.hpp"

#include <catch2/catch.hpp>

using sluice::core::Duration;
using sluice::core::FormatDuration;
using sluice::core::ParseDuration;

TEST_CASE("durations parse with every unit and in combination") {
  CHECK(ParseDuration("250ms") == Duration(250));
  CHECK(ParseDuration("5s") == Duration(5000));
  CHECK(ParseDuration("2m") == Duration(120'000));
  CHECK(ParseDuration("1h30m") == Duration(5'400'000));
  CHECK(ParseDuration("1d") == Duration(86'400'000));
  CHECK(ParseDuration("0s") == Duration(0));
}

TEST_CASE("bad durations say why") {
  std::string error;
  CHECK_FALSE(ParseDuration("30", &error));
  CHECK(error.find("needs a unit") != std::string::npos);
  CHECK_FALSE(ParseDuration("5 parsecs", &error));
  CHECK(error.find("unknown unit") != std::string::npos);
  CHECK_FALSE(ParseDuration("", &error));
  CHECK(error == "empty duration");
  CHECK_FALSE(ParseDuration("ms", &error));
  CHECK(error.find("expected a number") != std::string::npos);
  CHECK_FALSE(ParseDuration("-5s", &error));
  CHECK_FALSE(ParseDuration("99999999999999999999d", &error));
  CHECK(error.find("too large") != std::string::npos);
}

TEST_CASE("format round-trips through parse") {
  for (int64_t ms : {0, 1, 999, 1000, 61'000, 5'400'000, 90'061'001}) {
    auto text = FormatDuration(Duration(ms));
    CHECK(ParseDuration(text) == Duration(ms));
  }
  CHECK(FormatDuration(Duration(90'000)) == "1m30s");
}
