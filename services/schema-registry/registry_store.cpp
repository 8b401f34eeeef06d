#include "registry_store.hpp"

#include <random>
#include <thread>

namespace sluice::schema_registry {

std::int64_t RandomNodeId() {
  std::random_device rd;
  std::uint64_t hi = rd();
  std::uint64_t lo = rd();
  // Kept below 2^53 so every JSON reader (JavaScript included) sees the exact number.
  return static_cast<std::int64_t>(((hi << 32) | lo) & ((std::uint64_t{1} << 53) - 1));
}

RegistryStore::RegistryStore(SchemasLog& log, std::int64_t node_id, StoreOptions options)
    : log_(log), node_id_(node_id), options_(options) {}

std::size_t RegistryStore::Poll(std::chrono::milliseconds timeout) {
  std::lock_guard read_lock(read_mu_);
  auto records = log_.Read(static_cast<int>(timeout.count()));
  std::int64_t position = log_.Position();
  std::unique_lock lock(state_mu_);
  for (const auto& record : records) state_.Apply(record);
  state_.AdvanceTo(position);
  return records.size();
}

void RegistryStore::ReadUntil(std::int64_t offset, std::chrono::steady_clock::time_point deadline) {
  while (true) {
    {
      std::shared_lock lock(state_mu_);
      if (state_.AppliedEnd() >= offset) return;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw StoreError("timed out reading the schemas log up to offset " + std::to_string(offset),
                       true);
    }
    Poll(std::chrono::milliseconds(100));
  }
}

void RegistryStore::CatchUp(std::chrono::steady_clock::time_point deadline) {
  std::int64_t end = log_.EndOffset();
  ReadUntil(end, deadline);
  std::lock_guard lock(stats_mu_);
  caught_up_ = true;
}

bool RegistryStore::CaughtUp() const {
  std::lock_guard lock(stats_mu_);
  return caught_up_;
}

std::uint64_t RegistryStore::LostRaces() const {
  std::lock_guard lock(stats_mu_);
  return lost_races_;
}

void RegistryStore::AppendTombstones(const std::vector<std::string>& keys) {
  for (const auto& key : keys) log_.Append(key, std::nullopt);
}

void RegistryStore::Write(const Planner& planner) {
  std::lock_guard write_lock(write_mu_);
  auto deadline = std::chrono::steady_clock::now() + options_.write_timeout;
  for (int attempt = 0; attempt < options_.max_write_attempts; ++attempt) {
    ReadUntil(log_.EndOffset(), deadline);

    WritePlan plan;
    std::int64_t seq;
    {
      std::shared_lock lock(state_mu_);
      plan = planner(state_);
      seq = state_.AppliedEnd();
    }
    if (!plan.record) {
      // Tombstones only: each withdraws one key, so they commute with concurrent writes and
      // need no stamp. Read past them so this instance's state shows the removal.
      if (plan.tombstones.empty()) return;
      std::int64_t last = -1;
      for (const auto& key : plan.tombstones) last = log_.Append(key, std::nullopt);
      ReadUntil(last + 1, deadline);
      return;
    }

    LogKey key = plan.record->key;
    key.seq = seq;
    key.node = node_id_;
    std::string key_bytes = SerializeKey(key);
    std::int64_t offset = log_.Append(key_bytes, plan.record->value);
    ReadUntil(offset + 1, deadline);
    if (offset == seq) {
      // Won. Obsolete keys go now; if this process dies first they stay harmlessly
      // superseded and a later write of the same kind removes them.
      if (!plan.tombstones.empty()) {
        std::int64_t last = -1;
        for (const auto& k : plan.tombstones) last = log_.Append(k, std::nullopt);
        ReadUntil(last + 1, deadline);
      }
      return;
    }
    // Lost: another write landed first, so every instance ignores ours. Remove it from the
    // compacted log and plan again on the newer state.
    {
      std::lock_guard lock(stats_mu_);
      ++lost_races_;
    }
    log_.Append(key_bytes, std::nullopt);
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt * 5));
  }
  throw StoreError("could not write to the schemas log: " +
                       std::to_string(options_.max_write_attempts) +
                       " attempts lost to concurrent writers",
                   false);
}

}  // namespace sluice::schema_registry
