#pragma once
// A table's schema-qualified name, quoted only through libpq (never by hand).
#include <string>

#include <pqxx/connection_base>

namespace sluice::pg {

struct TableName {
  std::string schema;  // empty: the first schema on the search_path
  std::string name;

  // "schema"."name" quoted with PQescapeIdentifier, safe to splice into SQL.
  std::string Quoted(pqxx::connection_base& conn) const;
  // schema.name unquoted, for messages and logs.
  std::string Display() const { return schema.empty() ? name : schema + "." + name; }
};

}  // namespace sluice::pg
