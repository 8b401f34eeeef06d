#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>
#include <sstream>

#include "sluice/obs/log.hpp"

using namespace sluice::obs;

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  for (std::string line; std::getline(s, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("JSON logs are one object per line with the standard fields") {
  std::ostringstream out;
  ConfigureLogging({"sluice-cleaner", LogFormat::kJson, LogLevel::kInfo, &out});
  Logger log("kafka");
  log.Info("assigned partitions", {{"count", 3}, {"topic", "loans.raw"}, {"msg", "clash"}});
  log.Debug("hidden at info level");
  log.Warn("quote \" and newline \n in message");
  auto lines = Lines(out.str());
  REQUIRE(lines.size() == 2);
  auto first = nlohmann::json::parse(lines[0]);
  CHECK(first["level"] == "info");
  CHECK(first["daemon"] == "sluice-cleaner");
  CHECK(first["logger"] == "kafka");
  CHECK(first["msg"] == "assigned partitions");
  CHECK(first["count"] == 3);
  CHECK(first["topic"] == "loans.raw");
  CHECK(first["field.msg"] == "clash");  // a field cannot overwrite a standard key
  std::string ts = first["ts"];
  CHECK(ts.size() == 24);
  CHECK(ts.back() == 'Z');
  CHECK(lines[0].rfind("{\"ts\":", 0) == 0);  // ts first, for people reading raw lines
  auto second = nlohmann::json::parse(lines[1]);
  CHECK(second["level"] == "warn");
  CHECK(second["msg"] == "quote \" and newline \n in message");
}

TEST_CASE("text logs are readable lines with key=value fields") {
  std::ostringstream out;
  ConfigureLogging({"sluice-sink", LogFormat::kText, LogLevel::kDebug, &out});
  Logger log("pg");
  log.Debug("batch written", {{"rows", 500}, {"table", "loans"}});
  auto lines = Lines(out.str());
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(" debug [pg] batch written rows=500 table=loans") != std::string::npos);
  ConfigureLogging({});
}

TEST_CASE("log levels and formats parse") {
  LogLevel level;
  CHECK(ParseLogLevel("warn", &level));
  CHECK(level == LogLevel::kWarn);
  CHECK_FALSE(ParseLogLevel("verbose", &level));
  LogFormat format;
  CHECK(ParseLogFormat("text", &format));
  CHECK(format == LogFormat::kText);
  CHECK_FALSE(ParseLogFormat("xml", &format));
}
