#include "sluice/obs/log.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <mutex>

namespace sluice::obs {
namespace {

// spdlog carries only a message string, so the fields travel inside it after a separator
// that cannot appear in a JSON dump (it escapes control characters) and the sink splits them.
constexpr char kFieldSep = '\x1e';

spdlog::level::level_enum ToSpd(LogLevel l) {
  switch (l) {
    case LogLevel::kTrace: return spdlog::level::trace;
    case LogLevel::kDebug: return spdlog::level::debug;
    case LogLevel::kInfo: return spdlog::level::info;
    case LogLevel::kWarn: return spdlog::level::warn;
    case LogLevel::kError: return spdlog::level::err;
    case LogLevel::kCritical: return spdlog::level::critical;
    case LogLevel::kOff: return spdlog::level::off;
  }
  return spdlog::level::info;
}

const char* LevelName(spdlog::level::level_enum l) {
  switch (l) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "off";
  }
}

std::string Timestamp(spdlog::log_clock::time_point tp) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(tp.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

// Writes one formatted line per record to stdout or a test stream.
class LineSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LineSink(LogOptions options) : options_(std::move(options)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string_view text = payload;
    nlohmann::json fields = nlohmann::json::object();
    if (auto sep = payload.find(kFieldSep); sep != std::string_view::npos) {
      text = payload.substr(0, sep);
      fields = nlohmann::json::parse(payload.substr(sep + 1), nullptr, false);
      if (fields.is_discarded()) fields = nlohmann::json::object();
    }
    std::string logger(msg.logger_name.data(), msg.logger_name.size());
    std::string line;
    if (options_.format == LogFormat::kJson) {
      nlohmann::ordered_json j;
      j["ts"] = Timestamp(msg.time);
      j["level"] = LevelName(msg.level);
      j["daemon"] = options_.daemon;
      j["logger"] = logger;
      j["msg"] = std::string(text);
      for (auto& [k, v] : fields.items()) {
        // Reserved names keep their meaning; a clashing field gets a prefix.
        std::string key = j.contains(k) ? "field." + k : k;
        j[key] = v;
      }
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = Timestamp(msg.time) + ' ' + LevelName(msg.level) + " [" + logger + "] " +
             std::string(text);
      for (auto& [k, v] : fields.items()) {
        line += ' ' + k + '=' +
                (v.is_string() ? v.get<std::string>()
                               : v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
    line += '\n';
    if (options_.out) {
      *options_.out << line;
    } else {
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
  }
  void flush_() override {
    if (options_.out) {
      options_.out->flush();
    } else {
      std::fflush(stdout);
    }
  }

 private:
  LogOptions options_;
};

struct State {
  std::mutex mu;
  std::shared_ptr<LineSink> sink = std::make_shared<LineSink>(LogOptions{});
  LogLevel level = LogLevel::kInfo;
};

State& GlobalState() {
  static State state;
  return state;
}

std::shared_ptr<spdlog::logger> GetOrCreate(const std::string& name) {
  State& s = GlobalState();
  std::lock_guard lock(s.mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, s.sink);
  logger->set_level(ToSpd(s.level));
  logger->flush_on(spdlog::level::trace);  // one line at a time: logs must survive kill -9
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace

void ConfigureLogging(const LogOptions& options) {
  State& s = GlobalState();
  std::lock_guard lock(s.mu);
  s.sink = std::make_shared<LineSink>(options);
  s.level = options.level;
  // Every registered logger, spdlog's default one included (librdkafka's log callback and the
  // PostgreSQL connection's retries log through it): one sink, flushed at every line, so a
  // kill -9 or a crash loses nothing already logged.
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) {
    l->sinks().clear();
    l->sinks().push_back(s.sink);
    l->set_level(ToSpd(s.level));
    l->flush_on(spdlog::level::trace);
  });
}

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  static constexpr std::pair<std::string_view, LogLevel> kLevels[] = {
      {"trace", LogLevel::kTrace}, {"debug", LogLevel::kDebug},
      {"info", LogLevel::kInfo},   {"warn", LogLevel::kWarn},
      {"error", LogLevel::kError}, {"critical", LogLevel::kCritical},
      {"off", LogLevel::kOff}};
  for (auto [name, level] : kLevels) {
    if (text == name) {
      *out = level;
      return true;
    }
  }
  return false;
}

bool ParseLogFormat(std::string_view text, LogFormat* out) {
  if (text == "json") {
    *out = LogFormat::kJson;
  } else if (text == "text") {
    *out = LogFormat::kText;
  } else {
    return false;
  }
  return true;
}

Logger::Logger(std::string name) : logger_(GetOrCreate(name)) {}

bool Logger::Enabled(LogLevel level) const { return logger_->should_log(ToSpd(level)); }

void Logger::Log(LogLevel level, std::string_view msg, Fields fields) const {
  auto spd_level = ToSpd(level);
  if (!logger_->should_log(spd_level)) return;
  if (fields.size() == 0) {
    logger_->log(spd_level, "{}", msg);
    return;
  }
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : fields) j[std::string(k)] = v;
  std::string payload(msg);
  payload += kFieldSep;
  payload += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  logger_->log(spd_level, "{}", payload);
}

}  // namespace sluice::obs
