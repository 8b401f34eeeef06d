#include "sluice/runtime/stage.hpp"

#include <charconv>

namespace sluice::runtime {

std::optional<std::int64_t> ParseSourceTsMs(std::string_view value) {
  std::int64_t ms = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (error != std::errc() || end != value.data() + value.size()) return std::nullopt;
  return ms;
}

std::string Origin::ToString() const {
  switch (kind) {
    case Kind::kKafka:
      return topic + "/" + std::to_string(partition) + "@" + std::to_string(offset);
    case Kind::kFile:
      return file + ":" + std::to_string(line);
    case Kind::kHttp:
    case Kind::kPostgres:
      return file;
    case Kind::kNone:
      break;
  }
  return {};
}

const std::string* Record::FindHeader(const std::string& name) const {
  for (auto it = headers.rbegin(); it != headers.rend(); ++it) {
    if (it->name == name) return &it->value;
  }
  return nullptr;
}

}  // namespace sluice::runtime
