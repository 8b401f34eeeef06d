#pragma once
// librdkafka configuration as plain strings, passed through untouched.
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace sluice::kafka {

// Which kind of client a Config is meant for; selects our defaults.
enum class ClientRole { kProducer, kConsumer, kAdmin };

// A string→string map of librdkafka properties (e.g. "bootstrap.servers", "linger.ms").
// Keys are librdkafka's own: nothing is renamed or interpreted here, so every documented
// librdkafka property works. Value type, not thread-safe for concurrent mutation.
class Config {
 public:
  Config() = default;
  Config(std::initializer_list<std::pair<const std::string, std::string>> entries)
      : entries_(entries) {}
  // From the librdkafka map of a pipeline file (PipelineConfig::Librdkafka).
  explicit Config(std::map<std::string, std::string> entries) : entries_(std::move(entries)) {}

  Config& Set(std::string key, std::string value);
  std::optional<std::string> Get(const std::string& key) const;
  bool Has(const std::string& key) const { return entries_.count(key) != 0; }
  const std::map<std::string, std::string>& Entries() const { return entries_; }

  // This config with `defaults` filled in for every key it does not set itself.
  Config WithDefaults(const Config& defaults) const;

 private:
  std::map<std::string, std::string> entries_;
};

// Sluice's defaults per role; the user's value always wins.
//  producer: enable.idempotence=true (no duplicates or reordering on retry).
//  consumer: enable.auto.commit=false, enable.auto.offset.store=false (offsets are stored only
//            after the downstream write), isolation.level=read_committed,
//            auto.offset.reset=earliest, partition.assignment.strategy=cooperative-sticky,
//            fetch.wait.max.ms=100, queued.max.messages.kbytes=16384 (bounded prefetch).
Config DefaultsFor(ClientRole role);

// Checks every key and value against librdkafka without connecting anywhere.
// Throws core::ConfigError naming the key and carrying librdkafka's message.
void Validate(const Config& config);

}  // namespace sluice::kafka
