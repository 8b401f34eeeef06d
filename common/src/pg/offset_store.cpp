#include "sluice/pg/offset_store.hpp"

#include <pqxx/result>
#include <pqxx/transaction_base>

#include "sluice/core/error.hpp"

namespace sluice::pg {
namespace {

template <typename T>
std::string ArrayLiteral(const std::vector<T>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(values[i]);
  }
  return out + "}";
}

}  // namespace

OffsetStore::OffsetStore(std::string table, std::string schema)
    : table_(std::move(table)), schema_(std::move(schema)) {
  SLUICE_ASSERT(!table_.empty(), "offset table name must not be empty");
}

std::string OffsetStore::Quoted(pqxx::connection_base& conn) const {
  const std::string table = conn.quote_name(table_);
  return schema_.empty() ? table : conn.quote_name(schema_) + "." + table;
}

void OffsetStore::EnsureTable(pqxx::transaction_base& tx) const {
  const std::string table = Quoted(tx.conn());
  // Two sinks creating the table at once can both pass IF NOT EXISTS and then collide on the
  // catalog (23505 on pg_type); the transaction-scoped advisory lock serialises them.
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "sluice ddl " + table);
  if (!tx.exec_params1("SELECT to_regclass($1) IS NULL", table)[0].as<bool>()) return;
  tx.exec("CREATE TABLE " + table +
          " ("
          "consumer_group text NOT NULL, "
          "topic text NOT NULL, "
          "\"partition\" integer NOT NULL, "
          "next_offset bigint NOT NULL, "
          "updated_at timestamptz NOT NULL DEFAULT now(), "
          "PRIMARY KEY (consumer_group, topic, \"partition\"))");
}

void OffsetStore::Save(pqxx::transaction_base& tx, const std::string& group,
                       const std::string& topic, const std::vector<PartitionOffset>& offsets) const {
  if (offsets.empty()) return;
  std::vector<std::int32_t> partitions;
  std::vector<std::int64_t> next;
  for (const auto& o : offsets) {
    partitions.push_back(o.partition);
    next.push_back(o.next_offset);
  }
  // One statement for all partitions: one round trip per batch, whatever the assignment.
  tx.exec_params("INSERT INTO " + Quoted(tx.conn()) +
                     " (consumer_group, topic, \"partition\", next_offset, updated_at) "
                     "SELECT $1, $2, p, o, now() FROM unnest($3::integer[], $4::bigint[]) AS u(p, o) "
                     "ON CONFLICT (consumer_group, topic, \"partition\") DO UPDATE "
                     "SET next_offset = EXCLUDED.next_offset, updated_at = EXCLUDED.updated_at",
                 group, topic, ArrayLiteral(partitions), ArrayLiteral(next));
}

std::map<std::int32_t, std::int64_t> OffsetStore::Load(
    pqxx::transaction_base& tx, const std::string& group, const std::string& topic,
    const std::vector<std::int32_t>& partitions) const {
  std::map<std::int32_t, std::int64_t> out;
  if (partitions.empty()) return out;
  const auto rows = tx.exec_params("SELECT \"partition\", next_offset FROM " + Quoted(tx.conn()) +
                                       " WHERE consumer_group = $1 AND topic = $2 "
                                       "AND \"partition\" = ANY($3::integer[])",
                                   group, topic, ArrayLiteral(partitions));
  for (const auto& row : rows) out[row[0].as<std::int32_t>()] = row[1].as<std::int64_t>();
  return out;
}

}  // namespace sluice::pg
