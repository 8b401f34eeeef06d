#include "sluice/core/duration.hpp"

#include <cstdint>
#include <limits>

namespace sluice::core {
namespace {

std::optional<int64_t> UnitMillis(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  if (unit == "d") return 86'400'000;
  return std::nullopt;
}

bool Fail(std::string* error, std::string why) {
  if (error) *error = std::move(why);
  return false;
}

}  // namespace

std::optional<Duration> ParseDuration(std::string_view text, std::string* error) {
  if (text.empty()) {
    Fail(error, "empty duration");
    return std::nullopt;
  }
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t digits_start = i;
    int64_t value = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (value > (std::numeric_limits<int64_t>::max() - 9) / 10) {
        Fail(error, "duration '" + std::string(text) + "' is too large");
        return std::nullopt;
      }
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == digits_start) {
      Fail(error, "expected a number at '" + std::string(text.substr(i)) + "' in duration '" +
                      std::string(text) + "'");
      return std::nullopt;
    }
    size_t unit_start = i;
    while (i < text.size() && (text[i] < '0' || text[i] > '9')) ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    if (unit.empty()) {
      Fail(error, "duration '" + std::string(text) +
                      "' needs a unit (ms, s, m, h or d), e.g. '" + std::string(text) + "s'");
      return std::nullopt;
    }
    auto millis = UnitMillis(unit);
    if (!millis) {
      Fail(error, "unknown unit '" + std::string(unit) + "' in duration '" + std::string(text) +
                      "' (use ms, s, m, h or d)");
      return std::nullopt;
    }
    if (value > (std::numeric_limits<int64_t>::max() - total) / *millis) {
      Fail(error, "duration '" + std::string(text) + "' is too large");
      return std::nullopt;
    }
    total += value * *millis;
  }
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  static constexpr std::pair<int64_t, const char*> kUnits[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [size, name] : kUnits) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return out;
}

}  // namespace sluice::core
