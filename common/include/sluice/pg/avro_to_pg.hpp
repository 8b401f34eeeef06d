#pragma once
// PostgreSQL tables from Avro record schemas: the column type of every Avro type (the mapping is
// documented in README.md), CREATE TABLE with a primary key on the configured key columns, and
// the compatible evolution of an existing table (new columns added as nullable).
#include <functional>
#include <string>
#include <vector>

#include <pqxx/transaction_base>

#include "sluice/avro/schema.hpp"
#include "sluice/pg/table_name.hpp"

namespace sluice::pg {

struct ColumnSpec {
  std::string name;
  std::string type;  // as PostgreSQL's format_type() spells it, e.g. "timestamp with time zone"
  bool nullable = false;
};

struct TableSpec {
  TableName table;
  std::vector<ColumnSpec> columns;       // record field order
  std::vector<std::string> key_columns;  // primary key
};

// The column type for an Avro type, and whether a NULL can occur (a union with "null").
ColumnSpec ColumnFor(const std::string& name, const avro::Node& node);

// Maps each field of the record schema to a column. Throws core::ConfigError when the root is
// not a record or a key column is not a field, core::DataError when a field name cannot be a
// PostgreSQL identifier (longer than 63 bytes would be silently truncated by the server).
TableSpec TableFromAvro(const avro::Schema& schema, TableName table,
                        std::vector<std::string> key_columns);

// CREATE TABLE IF NOT EXISTS with every identifier passed through quote (pqxx's quote_name).
std::string CreateTableSql(const TableSpec& spec,
                           const std::function<std::string(const std::string&)>& quote);

// What EnsureTable / AddMissingColumns changed or found.
struct TableChanges {
  bool created = false;
  std::vector<std::string> added;             // columns added (nullable)
  std::vector<std::string> relaxed_not_null;  // NOT NULL dropped (field became optional or gone)
  std::vector<std::string> type_mismatches;   // "col: table has integer, schema maps to bigint"
};

// Creates the table if missing, else evolves it with AddMissingColumns. DDL from concurrent
// sinks is serialised by a transaction-scoped advisory lock on the table name.
TableChanges EnsureTable(pqxx::transaction_base& tx, const TableSpec& spec);

// For an evolved schema: ALTER TABLE … ADD COLUMN IF NOT EXISTS for fields the table lacks
// (always nullable: existing rows have no value), DROP NOT NULL on non-key columns whose field
// became nullable or left the schema (else every new row would fail 23502). Existing columns
// whose type differs are reported, never altered (ALTER TYPE rewrites the table under an
// exclusive lock; that is an operator's decision).
TableChanges AddMissingColumns(pqxx::transaction_base& tx, const TableSpec& spec);

}  // namespace sluice::pg
