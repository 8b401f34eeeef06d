#include "sluice/pg/avro_to_pg.hpp"

#include <algorithm>
#include <map>

#include <pqxx/result>

#include "sluice/core/error.hpp"

namespace sluice::pg {
namespace {

using avro::LogicalType;
using avro::Type;

// NAMEDATALEN - 1: the server truncates longer identifiers, so two long field names could
// silently become one column.
constexpr std::size_t kMaxIdentifierBytes = 63;

// PostgreSQL accepts numeric precision 1..1000; anything wider stays unconstrained.
std::string Numeric(const avro::Node& node) {
  if (node.precision() < 1 || node.precision() > 1000 || node.scale() < 0 ||
      node.scale() > node.precision()) {
    return "numeric";
  }
  return "numeric(" + std::to_string(node.precision()) + "," + std::to_string(node.scale()) + ")";
}

std::string TypeOf(const avro::Node& node) {
  switch (node.type()) {
    case Type::kNull:
      return "text";  // only NULLs will ever arrive
    case Type::kBoolean:
      return "boolean";
    case Type::kInt:
      if (node.logical_type() == LogicalType::kDate) return "date";
      if (node.logical_type() == LogicalType::kTimeMillis) return "time without time zone";
      return "integer";
    case Type::kLong:
      switch (node.logical_type()) {
        case LogicalType::kTimeMicros:
          return "time without time zone";
        case LogicalType::kTimestampMillis:
        case LogicalType::kTimestampMicros:
          return "timestamp with time zone";
        case LogicalType::kLocalTimestampMillis:
        case LogicalType::kLocalTimestampMicros:
          return "timestamp without time zone";
        default:
          return "bigint";
      }
    case Type::kFloat:
      return "real";
    case Type::kDouble:
      return "double precision";
    case Type::kBytes:
      return node.logical_type() == LogicalType::kDecimal ? Numeric(node) : "bytea";
    case Type::kFixed:
      if (node.logical_type() == LogicalType::kDecimal) return Numeric(node);
      if (node.logical_type() == LogicalType::kDuration) return "interval";
      return "bytea";
    case Type::kString:
      return node.logical_type() == LogicalType::kUuid ? "uuid" : "text";
    case Type::kEnum:
      return "text";
    case Type::kArray:
    case Type::kMap:
    case Type::kRecord:
      return "jsonb";
    case Type::kUnion:
      break;  // handled by ColumnFor
  }
  return "jsonb";
}

struct Existing {
  std::string type;
  bool not_null = false;
};

std::map<std::string, Existing> CatalogColumns(pqxx::transaction_base& tx, const std::string& table) {
  std::map<std::string, Existing> out;
  const auto rows = tx.exec_params(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped",
      table);
  for (const auto& row : rows) {
    out[row[0].as<std::string>()] = Existing{row[1].as<std::string>(), row[2].as<bool>()};
  }
  return out;
}

bool IsKey(const TableSpec& spec, const std::string& column) {
  return std::find(spec.key_columns.begin(), spec.key_columns.end(), column) !=
         spec.key_columns.end();
}

void LockDdl(pqxx::transaction_base& tx, const std::string& quoted_table) {
  // Two sinks creating or altering the same table at once can both pass IF NOT EXISTS and then
  // collide in the catalog (23505 on pg_type, 42P07, 42701); this lock serialises them.
  tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "sluice ddl " + quoted_table);
}

}  // namespace

ColumnSpec ColumnFor(const std::string& name, const avro::Node& node) {
  ColumnSpec column{name, "", false};
  if (node.type() != Type::kUnion) {
    column.type = TypeOf(node);
    column.nullable = node.type() == Type::kNull;
    return column;
  }
  const avro::Node* only = nullptr;
  int non_null = 0;
  for (const avro::Node* branch : node.branches()) {
    if (branch->type() == Type::kNull) {
      column.nullable = true;
    } else {
      only = branch;
      ++non_null;
    }
  }
  // ["null", T] is an optional T; a union of several types keeps its value as JSON.
  column.type = non_null == 1 ? TypeOf(*only) : non_null == 0 ? "text" : "jsonb";
  return column;
}

TableSpec TableFromAvro(const avro::Schema& schema, TableName table,
                        std::vector<std::string> key_columns) {
  const avro::Node& root = schema.root();
  if (root.type() != Type::kRecord) {
    throw core::ConfigError("table " + table.Display() + ": the value schema must be a record, not " +
                            std::string(avro::TypeName(root.type())));
  }
  if (key_columns.empty()) {
    throw core::ConfigError("table " + table.Display() + ": no key columns configured");
  }
  TableSpec spec{std::move(table), {}, std::move(key_columns)};
  for (const auto& field : root.fields()) {
    if (field.name().size() > kMaxIdentifierBytes) {
      throw core::DataError("table " + spec.table.Display() + ": field '" + field.name() +
                            "' is longer than PostgreSQL's 63-byte identifier limit");
    }
    spec.columns.push_back(ColumnFor(field.name(), field.type()));
  }
  for (const auto& key : spec.key_columns) {
    if (root.FindField(key) == nullptr) {
      throw core::ConfigError("table " + spec.table.Display() + ": key column '" + key +
                              "' is not a field of " + root.full_name());
    }
  }
  return spec;
}

std::string CreateTableSql(const TableSpec& spec,
                           const std::function<std::string(const std::string&)>& quote) {
  std::string table = quote(spec.table.name);
  if (!spec.table.schema.empty()) table = quote(spec.table.schema) + "." + table;
  std::string sql = "CREATE TABLE IF NOT EXISTS " + table + " (";
  for (const auto& column : spec.columns) {
    sql += quote(column.name) + " " + column.type;
    if (!column.nullable || IsKey(spec, column.name)) sql += " NOT NULL";
    sql += ", ";
  }
  sql += "PRIMARY KEY (";
  for (std::size_t i = 0; i < spec.key_columns.size(); ++i) {
    if (i > 0) sql += ", ";
    sql += quote(spec.key_columns[i]);
  }
  return sql + "))";
}

TableChanges EnsureTable(pqxx::transaction_base& tx, const TableSpec& spec) {
  const std::string table = spec.table.Quoted(tx.conn());
  LockDdl(tx, table);
  if (tx.exec_params1("SELECT to_regclass($1) IS NULL", table)[0].as<bool>()) {
    tx.exec(CreateTableSql(spec, [&tx](const std::string& id) { return tx.quote_name(id); }));
    TableChanges changes;
    changes.created = true;
    return changes;
  }
  return AddMissingColumns(tx, spec);
}

TableChanges AddMissingColumns(pqxx::transaction_base& tx, const TableSpec& spec) {
  const std::string table = spec.table.Quoted(tx.conn());
  LockDdl(tx, table);
  const auto existing = CatalogColumns(tx, table);
  if (existing.empty()) {
    throw core::ConfigError("table " + spec.table.Display() + " does not exist");
  }
  TableChanges changes;
  std::vector<std::string> actions;
  for (const auto& column : spec.columns) {
    const auto it = existing.find(column.name);
    const std::string quoted = tx.quote_name(column.name);
    if (it == existing.end()) {
      actions.push_back("ADD COLUMN IF NOT EXISTS " + quoted + " " + column.type);
      changes.added.push_back(column.name);
      continue;
    }
    // Compare without modifiers' spelling differences: format_type is our vocabulary too.
    if (it->second.type != column.type) {
      changes.type_mismatches.push_back(column.name + ": table has " + it->second.type +
                                        ", schema maps to " + column.type);
    }
    if (column.nullable && it->second.not_null && !IsKey(spec, column.name)) {
      actions.push_back("ALTER COLUMN " + quoted + " DROP NOT NULL");
      changes.relaxed_not_null.push_back(column.name);
    }
  }
  for (const auto& entry : existing) {
    const std::string& name = entry.first;  // a plain reference: clang 14 can't capture bindings
    const auto& column = entry.second;
    const bool in_schema = std::any_of(spec.columns.begin(), spec.columns.end(),
                                       [&](const ColumnSpec& c) { return c.name == name; });
    if (!in_schema && column.not_null && !IsKey(spec, name)) {
      actions.push_back("ALTER COLUMN " + tx.quote_name(name) + " DROP NOT NULL");
      changes.relaxed_not_null.push_back(name);
    }
  }
  if (!actions.empty()) {
    std::string sql = "ALTER TABLE " + table + " ";
    for (std::size_t i = 0; i < actions.size(); ++i) {
      if (i > 0) sql += ", ";
      sql += actions[i];
    }
    tx.exec(sql);
  }
  return changes;
}

}  // namespace sluice::pg
