#pragma once
// Structured logging on stdout via spdlog. JSON (default): one object per line with ts,
// level, daemon, logger, msg and the call's key/value fields. Text: a human line with the
// fields as key=value. Configure once at start-up, before threads log; Logger objects are
// cheap handles and thread-safe.
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

#include <nlohmann/json.hpp>

namespace spdlog {
class logger;
}

namespace sluice::obs {

enum class LogFormat { kJson, kText };
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical, kOff };

struct LogOptions {
  std::string daemon = "sluice";
  LogFormat format = LogFormat::kJson;
  LogLevel level = LogLevel::kInfo;
  std::ostream* out = nullptr;  // nullptr: stdout. Tests pass a stringstream.
};

// (Re)configures every logger. Not thread-safe against concurrent logging: call at start-up.
void ConfigureLogging(const LogOptions& options);

// Parses "trace|debug|info|warn|error|critical|off" and "json|text"; nullopt-like false if bad.
bool ParseLogLevel(std::string_view text, LogLevel* out);
bool ParseLogFormat(std::string_view text, LogFormat* out);

using Field = std::pair<std::string_view, nlohmann::json>;
using Fields = std::initializer_list<Field>;

// A named logger ("kafka", "cleaner", ...). Copyable handle; all share one sink.
class Logger {
 public:
  explicit Logger(std::string name);

  void Trace(std::string_view msg, Fields fields = {}) const { Log(LogLevel::kTrace, msg, fields); }
  void Debug(std::string_view msg, Fields fields = {}) const { Log(LogLevel::kDebug, msg, fields); }
  void Info(std::string_view msg, Fields fields = {}) const { Log(LogLevel::kInfo, msg, fields); }
  void Warn(std::string_view msg, Fields fields = {}) const { Log(LogLevel::kWarn, msg, fields); }
  void Error(std::string_view msg, Fields fields = {}) const { Log(LogLevel::kError, msg, fields); }
  void Critical(std::string_view msg, Fields fields = {}) const {
    Log(LogLevel::kCritical, msg, fields);
  }
  void Log(LogLevel level, std::string_view msg, Fields fields) const;
  bool Enabled(LogLevel level) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace sluice::obs
