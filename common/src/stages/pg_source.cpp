#include "sluice/stages/pg_source.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"

namespace sluice::stages {

using core::ConfigError;
using nlohmann::json;

namespace {

constexpr std::uint64_t kXidSpace = std::uint64_t{1} << 32;
// xmin 0 (invalid), 1 (bootstrap) and 2 (frozen before 9.4): older than any window.
constexpr int kFirstNormalXid = 3;

void DeclarePg(config::Section& p) {
  using T = config::OptionType;
  p.Add("name", T::kString).Describe("Source name in provenance headers and positions; defaults to the type and index (postgres0)").Example("orders_db");
  p.Add("table", T::kString).Required().Describe("The table to poll, 'name' or 'schema.name' (case-sensitive, not a view: rows are tracked by their xmin)").Example("sales.orders");
  p.Add("columns", T::kMap).Default("{}").Describe("Raw field -> column, for names that differ (others: the column of the field's name)").Example("{order_id: id, amount: total_amount}");
  p.Add("by", T::kString).Required().Describe("The ordering column (an id or updated_at): rows of one transaction window are sent in its order").Example("updated_at");
  p.Add("key", T::kList).Default("[]").Describe("NOT NULL columns unique with `by` that break ties between equal `by` values ([] = the primary key)").Example("[id]");
  p.Add("where", T::kString).Describe("An extra SQL filter on the table's rows (a row that stops matching is not read again)").Example("'region <> ''test'''");
  p.Add("poll_interval", T::kDuration).Default("1s").Describe("Wait after a poll that found nothing new").Example("500ms");
  p.Add("batch_size", T::kInt).Default("1000").Min(1).Describe("Rows per query (a page of a transaction window)").Example("5000");
  p.Add("statement_timeout", T::kDuration).Default("30s").Describe("Longest time one query may run (PostgreSQL statement_timeout; a timeout is retried like an outage)").Example("10s");
}

bool Category(const PgColumn& c, char cat) { return c.category == cat; }
bool IsTimestamp(const PgColumn& c) { return c.typname == "timestamptz" || c.typname == "timestamp"; }

}  // namespace

void DeclarePgSource(config::Section& pg) { DeclarePg(pg); }

const std::vector<std::string>& PgSourceExamples() {
  static const std::vector<std::string> examples = {
      "{name: orders_db, table: sales.orders, columns: {a: total_amount}, by: updated_at, "
      "key: [id], where: 'region <> ''test''', poll_interval: 500ms, batch_size: 5000, statement_timeout: 10s}",
      "{table: products, by: id}",
  };
  return examples;
}

std::shared_ptr<SourceSettings> MakePgSource(const ComponentInput& in, const RecordSpec& raw,
                                             const config::View& id) {
  auto s = std::make_shared<PgSourceSettings>();
  const config::View& o = in.options;
  s->name = o.OptionalString("name").value_or("postgres" + std::to_string(in.index));
  s->table = o.String("table");
  s->columns = o.StringMap("columns");
  s->by = o.String("by");
  s->key = o.Strings("key");
  s->where = o.OptionalString("where").value_or("");
  s->poll_interval = o.Duration("poll_interval");
  s->batch_size = o.Int("batch_size");
  s->statement_timeout = o.Duration("statement_timeout");
  if (s->table.empty()) in.Fail("table", "empty table name");
  if (std::count(s->table.begin(), s->table.end(), '.') > 1) in.Fail("table", "expected 'name' or 'schema.name'");
  if (s->by.empty()) in.Fail("by", "empty column name");
  for (const auto& [field, column] : s->columns) {
    if (!raw.Find(field)) in.Fail("columns", "'" + field + "' is not a field of the raw schema");
    if (column.empty()) in.Fail("columns", "'" + field + "' maps to an empty column name");
  }
  if (id.Exists()) in.Fail("", "producer.id derives ids from CSV rows; a postgres source keys its records by producer.key");
  return s;
}

std::string QuoteIdent(const std::string& name) {
  std::string out = "\"";
  for (char c : name) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteTable(const std::string& table) {
  const auto dot = table.find('.');
  if (dot == std::string::npos) return QuoteIdent(table);
  return QuoteIdent(table.substr(0, dot)) + "." + QuoteIdent(table.substr(dot + 1));
}

std::string PgReadExpression(const PgColumn& c, FieldType type) {
  const std::string q = QuoteIdent(c.name);
  // Infinite dates and timestamps are read as their text ('infinity'), never computed on.
  auto finite = [&](const std::string& expr) {
    return "CASE WHEN isfinite(" + q + ") THEN " + expr + " ELSE " + q + "::text END";
  };
  switch (type) {
    case FieldType::kString:
      if (c.typname == "json" || c.typname == "jsonb") return q + "::text";
      if (Category(c, 'A')) return "to_json(" + q + ")::text";
      if (c.typname == "timestamptz") return finite("to_char(" + q + " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')");
      if (c.typname == "timestamp") return finite("to_char(" + q + ", 'YYYY-MM-DD\"T\"HH24:MI:SS.US')");
      if (c.typname == "date") return finite("to_char(" + q + ", 'YYYY-MM-DD')");
      if (c.typname == "bool") return "CASE WHEN " + q + " THEN 'true' WHEN NOT " + q + " THEN 'false' END";
      return q + "::text";
    case FieldType::kInt:
    case FieldType::kLong:
      if (IsTimestamp(c)) return finite("floor(extract(epoch from " + q + ") * 1000)::bigint::text");
      if (c.typname == "date") return finite("(" + q + " - date '1970-01-01')::text");
      return q + "::text";
    case FieldType::kDate:
      if (c.typname == "timestamptz") return finite("to_char(" + q + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')");
      if (c.typname == "timestamp" || c.typname == "date") return finite("to_char(" + q + ", 'YYYY-MM-DD')");
      return q + "::text";
    case FieldType::kBoolean:
      if (c.typname == "bool") return "CASE WHEN " + q + " THEN 'true' WHEN NOT " + q + " THEN 'false' END";
      return q + "::text";
    case FieldType::kFloat:
    case FieldType::kDouble:
      return q + "::text";
  }
  return q + "::text";
}

namespace {

// Whether a column of this type can feed a field of `type` at all (else a configuration error).
bool Feeds(const PgColumn& c, FieldType type) {
  if (Category(c, 'S') || c.typname == "unknown") return true;  // text: converted row by row
  switch (type) {
    case FieldType::kString: return true;
    case FieldType::kBoolean: return c.typname == "bool";
    case FieldType::kInt:
    case FieldType::kLong: return Category(c, 'N') || IsTimestamp(c) || c.typname == "date";
    case FieldType::kFloat:
    case FieldType::kDouble: return Category(c, 'N');
    case FieldType::kDate: return IsTimestamp(c) || c.typname == "date";
  }
  return false;
}

}  // namespace

PgQueryPlan BuildPgQueryPlan(const PgSourceSettings& s, const RecordSpec& raw,
                             const std::vector<PgColumn>& catalog,
                             const std::vector<std::string>& primary_key) {
  const std::string where = "source " + s.name + " (table " + s.table + ")";
  auto find = [&](const std::string& column) -> const PgColumn* {
    for (const PgColumn& c : catalog) {
      if (c.name == column) return &c;
    }
    return nullptr;
  };
  PgQueryPlan plan;
  plan.table = QuoteTable(s.table);
  plan.where = s.where;
  plan.batch_size = s.batch_size;
  for (const FieldSpec& f : raw.fields) {
    const auto mapped = s.columns.find(f.name);
    const std::string column = mapped == s.columns.end() ? f.name : mapped->second;
    const PgColumn* c = find(column);
    if (c == nullptr) {
      throw ConfigError(where + ": no column '" + column + "' for raw field '" + f.name + "' (map it with `columns`)");
    }
    if (!Feeds(*c, f.type)) {
      throw ConfigError(where + ": column '" + column + "' (" + c->type + ") cannot feed raw field '" + f.name +
                        "' (" + std::string(FieldTypeName(f.type)) + ")");
    }
    plan.fields.push_back(PgFieldRead{f.name, column, f.type, f.nullable, PgReadExpression(*c, f.type)});
  }
  const PgColumn* by = find(s.by);
  if (by == nullptr) throw ConfigError(where + ": no column '" + s.by + "' (by)");
  if (Category(*by, 'A') || by->typname == "json" || by->typname == "xml") {
    throw ConfigError(where + ": by: column '" + s.by + "' (" + by->type + ") has no usable order");
  }
  plan.order.push_back(*by);
  const std::vector<std::string>& key = s.key.empty() ? primary_key : s.key;
  if (key.empty()) {
    throw ConfigError(where + ": the table has no primary key: name NOT NULL columns unique with `by` in `key`");
  }
  for (const std::string& k : key) {
    const PgColumn* c = find(k);
    if (c == nullptr) throw ConfigError(where + ": key: no column '" + k + "'");
    if (!c->not_null) throw ConfigError(where + ": key: column '" + k + "' may be NULL (key columns must be NOT NULL)");
    if (k == s.by) continue;  // already the first order column
    plan.order.push_back(*c);
  }
  return plan;
}

std::string EncodePgPosition(const PgPosition& p) {
  json after = json::array();
  for (const auto& v : p.after) after.push_back(v ? json(*v) : json(nullptr));
  const json j = {{"h", p.h}, {"e", p.e}, {"resume", p.resume}, {"after", after},
                  {"rows", p.rows}, {"windows", p.windows}};
  return j.dump();
}

std::optional<PgPosition> DecodePgPosition(const std::string& text, std::string* why) {
  try {
    const json j = json::parse(text);
    PgPosition p;
    auto xid = [&](const char* key) {
      const json& v = j.at(key);
      if (!v.is_number_unsigned()) throw std::runtime_error(std::string(key) + " is not a transaction id");
      return v.get<std::uint64_t>();
    };
    p.h = xid("h");
    p.e = xid("e");
    p.resume = j.at("resume").get<bool>();
    for (const json& v : j.at("after")) {
      if (v.is_null()) p.after.emplace_back(std::nullopt);
      else p.after.emplace_back(v.get<std::string>());
    }
    p.rows = j.value("rows", std::int64_t{0});
    p.windows = j.value("windows", std::int64_t{0});
    if (p.e != 0 && p.e < p.h) throw std::runtime_error("window end before its start");
    if (p.resume && (p.e == 0 || p.after.empty())) throw std::runtime_error("resume without a window or a row");
    return p;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
}

PgPageQuery BuildPageQuery(const PgQueryPlan& plan, const PgPosition& p) {
  SLUICE_ASSERT(p.e != 0, "a page query needs a started window");
  PgPageQuery q;
  // Output columns are named c0, c1...: ORDER BY a bare name would pick an output column of
  // that name (the text form) over the table's column.
  std::string sql = "SELECT ";
  std::size_t n = 0;
  for (const PgFieldRead& f : plan.fields) sql += f.expr + " AS c" + std::to_string(n++) + ", ";
  for (const PgColumn& c : plan.order) sql += QuoteIdent(c.name) + "::text AS c" + std::to_string(n++) + ", ";
  const std::string x = "xmin::text::bigint";
  sql += "xmin::text AS c" + std::to_string(n) + " FROM " + plan.table + " WHERE ";
  const std::string e32 = std::to_string(p.e % kXidSpace);
  if (p.h == 0 || p.e - p.h > kMaxWindow) {
    // Everything but the versions whose xmin is in [e, the statement's xmax): those are newer.
    sql += "(" + x + " < " + std::to_string(kFirstNormalXid) + " OR (" + x + " - " + e32 + " + " +
           std::to_string(kXidSpace) + ") % " + std::to_string(kXidSpace) +
           " >= pg_snapshot_xmax(pg_current_snapshot())::text::bigint - " + std::to_string(p.e) + ")";
  } else {
    sql += "(" + x + " >= " + std::to_string(kFirstNormalXid) + " AND (" + e32 + " - " + x + " + " +
           std::to_string(kXidSpace) + ") % " + std::to_string(kXidSpace) + " BETWEEN 1 AND " +
           std::to_string(p.e - p.h) + ")";
  }
  if (!plan.where.empty()) sql += " AND (" + plan.where + ")";
  if (p.resume) {
    // Strictly after the last row read, in the ORDER BY below (NULL `by` values first).
    auto cast = [&](std::size_t i) { return "$" + std::to_string(q.params.size()) + "::" + plan.order[i].type; };
    const std::string by = QuoteIdent(plan.order[0].name);
    std::string cols, vals;
    if (!p.after[0]) {
      for (std::size_t i = 1; i < plan.order.size() && i < p.after.size(); ++i) {
        q.params.push_back(p.after[i]);
        cols += (cols.empty() ? "" : ", ") + QuoteIdent(plan.order[i].name);
        vals += (vals.empty() ? "" : ", ") + cast(i);
      }
      sql += " AND (" + by + " IS NOT NULL" + (cols.empty() ? std::string() : " OR (" + by + " IS NULL AND (" + cols + ") > (" + vals + "))") + ")";
      // With no key besides a NULL `by`, NULLs cannot be told apart: BuildPgQueryPlan
      // guarantees a key, so cols is never empty in practice.
    } else {
      for (std::size_t i = 0; i < plan.order.size() && i < p.after.size(); ++i) {
        q.params.push_back(p.after[i]);
        cols += (cols.empty() ? "" : ", ") + QuoteIdent(plan.order[i].name);
        vals += (vals.empty() ? "" : ", ") + cast(i);
      }
      sql += " AND " + by + " IS NOT NULL AND (" + cols + ") > (" + vals + ")";
    }
  }
  sql += " ORDER BY ";
  for (std::size_t i = 0; i < plan.order.size(); ++i) {
    sql += (i ? ", " : "") + plan.table + "." + QuoteIdent(plan.order[i].name) + (i == 0 ? " ASC NULLS FIRST" : " ASC");
  }
  sql += " LIMIT " + std::to_string(plan.batch_size);
  q.sql = std::move(sql);
  return q;
}

std::optional<Value> PgTextToValue(const std::string& t, FieldType type, std::string* why) {
  auto fail = [&](const std::string& what) -> std::optional<Value> {
    if (why) *why = what;
    return std::nullopt;
  };
  const std::string shown = "'" + t.substr(0, 60) + (t.size() > 60 ? "...'" : "'");
  switch (type) {
    case FieldType::kString:
      return Value(t);
    case FieldType::kBoolean:
      if (t == "true" || t == "t") return Value(true);
      if (t == "false" || t == "f") return Value(false);
      return fail("expected a boolean, got " + shown);
    case FieldType::kInt:
    case FieldType::kLong: {
      std::string digits = t;
      // numeric with a zero fraction ("12.00") is an integer.
      if (const auto dot = digits.find('.'); dot != std::string::npos &&
          digits.find_first_not_of('0', dot + 1) == std::string::npos && dot > 0) {
        digits.resize(dot);
      }
      const auto n = ParseInt64(digits);
      if (!n) return fail("expected an integer, got " + shown);
      if (type == FieldType::kInt && (*n > std::numeric_limits<std::int32_t>::max() ||
                                      *n < std::numeric_limits<std::int32_t>::min())) {
        return fail("integer " + t + " does not fit an int");
      }
      return Value(*n);
    }
    case FieldType::kFloat:
    case FieldType::kDouble: {
      if (t == "NaN") return Value(std::numeric_limits<double>::quiet_NaN());
      if (t == "Infinity") return Value(std::numeric_limits<double>::infinity());
      if (t == "-Infinity") return Value(-std::numeric_limits<double>::infinity());
      const auto d = ParseDouble(t);
      if (!d) return fail("expected a number, got " + shown);
      return Value(*d);
    }
    case FieldType::kDate: {
      const auto days = ParseDate(t, "%Y-%m-%d");
      if (!days) return fail("expected a date (YYYY-MM-DD), got " + shown);
      return Value(*days);
    }
  }
  return fail("unsupported field type");
}

std::optional<Value> PgTextToValue(const std::optional<std::string>& text, const PgFieldRead& f,
                                   std::string* why) {
  std::string problem;
  std::optional<Value> v;
  if (!text) {
    if (f.nullable) return Value(Null{});
    problem = "null (required)";
  } else if (!(v = PgTextToValue(*text, f.type, &problem))) {
  } else {
    return v;
  }
  if (why) *why = "field '" + f.field + "' (column " + f.column + "): " + problem;
  return std::nullopt;
}

}  // namespace sluice::stages
