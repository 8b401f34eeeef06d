#pragma once
// Consumed Kafka offsets kept in PostgreSQL, next to the rows they produced: the sink saves them
// in the same transaction as the rows (exactly-once), and on partition assignment loads them to
// seek. Table sluice_offsets(consumer_group, topic, partition, next_offset, updated_at).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <pqxx/connection_base>
#include <pqxx/transaction_base>

namespace sluice::pg {

struct PartitionOffset {
  std::int32_t partition = 0;
  std::int64_t next_offset = 0;  // the offset of the next record to consume
};

// Stateless apart from the table name; safe to share. The table may live in any schema.
class OffsetStore {
 public:
  explicit OffsetStore(std::string table = "sluice_offsets", std::string schema = "");

  // CREATE TABLE IF NOT EXISTS (serialised with an advisory lock so that concurrent sinks
  // starting together do not race on the catalog).
  void EnsureTable(pqxx::transaction_base& tx) const;

  // Upserts next_offset for each partition, inside the caller's transaction, so that the
  // offsets commit or roll back together with the rows. Last write wins, so an operator can
  // rewind a partition on purpose; replays are harmless because rows are upserts.
  void Save(pqxx::transaction_base& tx, const std::string& group, const std::string& topic,
            const std::vector<PartitionOffset>& offsets) const;

  // Stored next offsets of the given partitions; partitions never saved are absent.
  std::map<std::int32_t, std::int64_t> Load(pqxx::transaction_base& tx, const std::string& group,
                                            const std::string& topic,
                                            const std::vector<std::int32_t>& partitions) const;

 private:
  std::string Quoted(pqxx::connection_base& conn) const;

  std::string table_;
  std::string schema_;
};

}  // namespace sluice::pg
