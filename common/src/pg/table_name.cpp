#include "sluice/pg/table_name.hpp"

namespace sluice::pg {

std::string TableName::Quoted(pqxx::connection_base& conn) const {
  std::string quoted = conn.quote_name(name);
  return schema.empty() ? quoted : conn.quote_name(schema) + "." + quoted;
}

}  // namespace sluice::pg
