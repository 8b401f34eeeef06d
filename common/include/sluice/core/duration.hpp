#pragma once
// Human durations in config files: "250ms", "5s", "2m", "1h", "1h30m", "1d". A bare number is
// rejected: a unit is required so "30" can never mean seconds to one reader and ms to another.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::core {

using Duration = std::chrono::milliseconds;

// Returns the duration, or nullopt and sets *error to the reason.
std::optional<Duration> ParseDuration(std::string_view text, std::string* error = nullptr);

// Formats as the shortest exact form ParseDuration accepts, e.g. 90000ms -> "1m30s".
std::string FormatDuration(Duration d);

}  // namespace sluice::core
