#include "sluice/kafka/config.hpp"

#include "sluice/core/error.hpp"
#include "sluice/kafka/detail/rdkafka_glue.hpp"

namespace sluice::kafka {

Config& Config::Set(std::string key, std::string value) {
  entries_[std::move(key)] = std::move(value);
  return *this;
}

std::optional<std::string> Config::Get(const std::string& key) const {
  auto it = entries_.find(key);
  if (it == entries_.end()) return std::nullopt;
  return it->second;
}

Config Config::WithDefaults(const Config& defaults) const {
  Config merged = defaults;
  for (const auto& [key, value] : entries_) merged.Set(key, value);
  return merged;
}

Config DefaultsFor(ClientRole role) {
  switch (role) {
    case ClientRole::kProducer:
      return Config{{"enable.idempotence", "true"}};
    case ClientRole::kConsumer:
      return Config{{"enable.auto.commit", "false"},
                    {"enable.auto.offset.store", "false"},
                    {"isolation.level", "read_committed"},
                    {"auto.offset.reset", "earliest"},
                    {"partition.assignment.strategy", "cooperative-sticky"},
                    // An empty fetch is held this long at most (librdkafka: 500 ms). One fetch
                    // is in flight per broker, so a drained partition's long poll would delay
                    // the others' next records.
                    {"fetch.wait.max.ms", "100"},
                    // Prefetched records kept in the consumer's queue (librdkafka: 64 MiB).
                    // 16 MiB is tens of thousands of records, a fraction of a second of work
                    // at full rate, and keeps a daemon's memory flat.
                    {"queued.max.messages.kbytes", "16384"}};
    case ClientRole::kAdmin:
      return Config{};
  }
  return Config{};
}

void Validate(const Config& config) {
  // MakeConf does the checking; the conf it builds is simply dropped.
  (void)detail::MakeConf(config);
}

}  // namespace sluice::kafka
