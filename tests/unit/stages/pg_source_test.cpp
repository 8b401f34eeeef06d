// The postgres source type's pure logic: the factory's checks, the query plan against a
// catalog, the SQL of a window page (first window, later windows, resuming after a row with a
// NULL or non-NULL `by`), positions, and the text of a column converted per raw field type.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/pg_source.hpp"

using namespace sluice::stages;
using nlohmann::json;

namespace {

RecordSpec OrderSpec() {
  return RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"O","fields":[
    {"name":"id","type":"long"},
    {"name":"amount","type":"string"},
    {"name":"price","type":["null","double"],"default":null},
    {"name":"paid_at","type":["null","string"],"default":null},
    {"name":"paid_ms","type":["null","long"],"default":null},
    {"name":"day","type":["null",{"type":"int","logicalType":"date"}],"default":null},
    {"name":"tags","type":["null","string"],"default":null},
    {"name":"doc","type":["null","string"],"default":null},
    {"name":"ok","type":["null","boolean"],"default":null}]})"),
                            "test");
}

std::vector<PgColumn> Catalog() {
  return {
      {"id", "bigint", 'N', "int8", true},
      {"total", "numeric(12,2)", 'N', "numeric", false},
      {"price", "double precision", 'N', "float8", false},
      {"paid_at", "timestamp with time zone", 'D', "timestamptz", false},
      {"day", "date", 'D', "date", false},
      {"tags", "text[]", 'A', "_text", false},
      {"doc", "jsonb", 'U', "jsonb", false},
      {"ok", "boolean", 'B', "bool", false},
      {"updated_at", "timestamp with time zone", 'D', "timestamptz", false},
  };
}

PgSourceSettings Settings() {
  PgSourceSettings s;
  s.name = "orders";
  s.table = "sales.orders";
  s.columns = {{"amount", "total"}, {"paid_ms", "paid_at"}};
  s.by = "updated_at";
  s.batch_size = 100;
  return s;
}

std::shared_ptr<SourceSettings> Build(const std::string& item, const RecordSpec& raw) {
  YAML::Node items(YAML::NodeType::Sequence);
  items.push_back(YAML::Load(item));
  return SourceTypes().Build(items, "p.yaml: producer.sources", raw, sluice::config::View(YAML::Node(), "producer.id")).at(0);
}

}  // namespace

TEST_CASE("the postgres type reads its options, with defaults") {
  const auto built = Build("{type: postgres, table: sales.orders, by: id}", OrderSpec());
  const auto* s = dynamic_cast<const PgSourceSettings*>(built.get());
  REQUIRE(s != nullptr);
  CHECK(s->name == "postgres0");
  CHECK(s->table == "sales.orders");
  CHECK(s->by == "id");
  CHECK(s->key.empty());
  CHECK(s->poll_interval.count() == 1000);
  CHECK(s->batch_size == 1000);
  CHECK(s->statement_timeout.count() == 30'000);
  CHECK(s->where.empty());
}

TEST_CASE("the postgres type refuses what cannot work") {
  CHECK_THROWS_AS(Build("{type: postgres, by: id}", OrderSpec()), sluice::core::ConfigError);
  CHECK_THROWS_AS(Build("{type: postgres, table: t}", OrderSpec()), sluice::core::ConfigError);
  CHECK_THROWS_WITH(Build("{type: postgres, table: t, by: id, columns: {nope: x}}", OrderSpec()),
                    Catch::Contains("'nope' is not a field of the raw schema"));
  CHECK_THROWS_AS(Build("{type: postgres, table: a.b.c, by: id}", OrderSpec()), sluice::core::ConfigError);
  CHECK_THROWS_AS(Build("{type: postgres, table: t, by: id, batch_size: 0}", OrderSpec()), sluice::core::ConfigError);
  CHECK_THROWS_AS(Build("{type: postgres, table: t, by: id, conninfo: x}", OrderSpec()), sluice::core::ConfigError);
}

TEST_CASE("identifiers are quoted as written") {
  CHECK(QuoteIdent("Order\"s") == "\"Order\"\"s\"");
  CHECK(QuoteTable("sales.Orders") == "\"sales\".\"Orders\"");
  CHECK(QuoteTable("orders") == "\"orders\"");
}

TEST_CASE("the plan maps fields to columns and picks the read expression per type") {
  const PgQueryPlan plan = BuildPgQueryPlan(Settings(), OrderSpec(), Catalog(), {"id"});
  CHECK(plan.table == "\"sales\".\"orders\"");
  REQUIRE(plan.fields.size() == 9);
  CHECK(plan.fields[0].expr == "\"id\"::text");
  CHECK(plan.fields[1].column == "total");
  CHECK(plan.fields[1].expr == "\"total\"::text");  // numeric as its exact text
  CHECK(plan.fields[3].expr.find("to_char(\"paid_at\" AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')") != std::string::npos);
  CHECK(plan.fields[4].expr.find("floor(extract(epoch from \"paid_at\") * 1000)::bigint::text") != std::string::npos);
  CHECK(plan.fields[5].expr.find("to_char(\"day\", 'YYYY-MM-DD')") != std::string::npos);
  CHECK(plan.fields[6].expr == "to_json(\"tags\")::text");  // arrays as JSON arrays
  CHECK(plan.fields[7].expr == "\"doc\"::text");            // json as its text
  CHECK(plan.fields[8].expr.find("THEN 'true'") != std::string::npos);
  REQUIRE(plan.order.size() == 2);
  CHECK(plan.order[0].name == "updated_at");
  CHECK(plan.order[1].name == "id");
}

TEST_CASE("the plan refuses missing columns, unusable types and a nullable or missing key") {
  auto s = Settings();
  auto catalog = Catalog();
  s.columns.erase("amount");
  CHECK_THROWS_WITH(BuildPgQueryPlan(s, OrderSpec(), catalog, {"id"}), Catch::Contains("no column 'amount'"));
  s = Settings();
  s.by = "nope";
  CHECK_THROWS_WITH(BuildPgQueryPlan(s, OrderSpec(), catalog, {"id"}), Catch::Contains("no column 'nope' (by)"));
  s = Settings();
  CHECK_THROWS_WITH(BuildPgQueryPlan(s, OrderSpec(), catalog, {}), Catch::Contains("no primary key"));
  s.key = {"price"};
  CHECK_THROWS_WITH(BuildPgQueryPlan(s, OrderSpec(), catalog, {}), Catch::Contains("may be NULL"));
  s = Settings();
  s.columns["price"] = "tags";  // an array cannot feed a double
  CHECK_THROWS_WITH(BuildPgQueryPlan(s, OrderSpec(), catalog, {"id"}), Catch::Contains("cannot feed raw field 'price'"));
  s = Settings();
  s.by = "id";  // by in the key: ordered by id alone
  CHECK(BuildPgQueryPlan(s, OrderSpec(), catalog, {"id"}).order.size() == 1);
}

TEST_CASE("the first window takes everything but the versions newer than its end") {
  const PgQueryPlan plan = BuildPgQueryPlan(Settings(), OrderSpec(), Catalog(), {"id"});
  PgPosition p;
  p.e = (std::uint64_t{5} << 32) + 1000;  // epoch 5
  const PgPageQuery q = BuildPageQuery(plan, p);
  CHECK(q.params.empty());
  CHECK(q.sql.find("FROM \"sales\".\"orders\" WHERE (xmin::text::bigint < 3 OR (xmin::text::bigint - 1000 + 4294967296) % 4294967296 >= "
                   "pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 21474837480)") != std::string::npos);
  CHECK(q.sql.find("ORDER BY \"sales\".\"orders\".\"updated_at\" ASC NULLS FIRST, \"sales\".\"orders\".\"id\" ASC LIMIT 100") !=
        std::string::npos);
  CHECK(q.sql.find("\"updated_at\"::text AS c9, \"id\"::text AS c10, xmin::text AS c11 FROM") != std::string::npos);
}

TEST_CASE("a later window takes the versions whose xmin is between h and e, across the 32-bit wrap") {
  const PgQueryPlan plan = BuildPgQueryPlan(Settings(), OrderSpec(), Catalog(), {"id"});
  PgPosition p;
  p.h = (std::uint64_t{1} << 32) - 10;  // the window straddles an epoch boundary
  p.e = (std::uint64_t{1} << 32) + 20;
  const PgPageQuery q = BuildPageQuery(plan, p);
  CHECK(q.sql.find("WHERE (xmin::text::bigint >= 3 AND (20 - xmin::text::bigint + 4294967296) % 4294967296 BETWEEN 1 AND 30)") !=
        std::string::npos);
  // The predicate as arithmetic: xmin 4294967290 (h) is in, 19 is in, 20 (e) is out, 4294967289 is out.
  auto in = [](std::uint64_t xmin) {
    const std::uint64_t d = (20 + 4294967296 - xmin) % 4294967296;
    return xmin >= 3 && d >= 1 && d <= 30;
  };
  CHECK(in(4294967286));
  CHECK(in(19));
  CHECK_FALSE(in(20));
  CHECK_FALSE(in(4294967285));
  // A window wider than 2^31 is read like the first one.
  p.h = 100;
  p.e = 100 + kMaxWindow + 1;
  CHECK(BuildPageQuery(plan, p).sql.find("xmin::text::bigint < 3 OR") != std::string::npos);
}

TEST_CASE("a page resumes strictly after the last row, NULL `by` values first") {
  PgQueryPlan plan = BuildPgQueryPlan(Settings(), OrderSpec(), Catalog(), {"id"});
  plan.where = "total > 0";
  PgPosition p;
  p.h = 50;
  p.e = 60;
  p.resume = true;
  p.after = {std::string("2024-01-01 00:00:00+00"), std::string("7")};
  PgPageQuery q = BuildPageQuery(plan, p);
  CHECK(q.sql.find(" AND (total > 0) AND \"updated_at\" IS NOT NULL AND (\"updated_at\", \"id\") > "
                   "($1::timestamp with time zone, $2::bigint) ORDER BY") != std::string::npos);
  CHECK(q.params == std::vector<std::optional<std::string>>{std::string("2024-01-01 00:00:00+00"), std::string("7")});
  p.after = {std::nullopt, std::string("7")};
  q = BuildPageQuery(plan, p);
  CHECK(q.sql.find(" AND (\"updated_at\" IS NOT NULL OR (\"updated_at\" IS NULL AND (\"id\") > ($1::bigint))) ORDER BY") !=
        std::string::npos);
  CHECK(q.params == std::vector<std::optional<std::string>>{std::string("7")});
}

TEST_CASE("positions round-trip and malformed ones are refused") {
  PgPosition p;
  p.h = 18446744073709551000ULL;
  p.e = 18446744073709551100ULL;
  p.resume = true;
  p.after = {std::nullopt, std::string("a\"b")};
  p.rows = 12;
  p.windows = 3;
  std::string why;
  const auto back = DecodePgPosition(EncodePgPosition(p), &why);
  REQUIRE(back);
  CHECK(back->h == p.h);
  CHECK(back->e == p.e);
  CHECK(back->resume);
  CHECK(back->after == p.after);
  CHECK(back->rows == 12);
  CHECK(back->windows == 3);
  CHECK_FALSE(DecodePgPosition("{\"h\":5,\"e\":3,\"resume\":false,\"after\":[]}", &why));
  CHECK(why == "window end before its start");
  CHECK_FALSE(DecodePgPosition("{\"h\":5,\"e\":0,\"resume\":true,\"after\":[\"1\"]}", &why));
  CHECK_FALSE(DecodePgPosition("not json", &why));
  CHECK_FALSE(DecodePgPosition("{\"h\":-1,\"e\":0,\"resume\":false,\"after\":[]}", &why));
}

TEST_CASE("column text converts per raw field type, or says why not") {
  std::string why;
  auto field = [](FieldType t, bool nullable = true) { return PgFieldRead{"f", "c", t, nullable, ""}; };
  CHECK(PgTextToValue(std::string("12345678901234567890.123"), field(FieldType::kString), &why) ==
        Value(std::string("12345678901234567890.123")));
  CHECK(PgTextToValue(std::nullopt, field(FieldType::kString), &why) == Value(Null{}));
  CHECK_FALSE(PgTextToValue(std::nullopt, field(FieldType::kString, false), &why));
  CHECK(why == "field 'f' (column c): null (required)");
  CHECK(PgTextToValue(std::string("42"), field(FieldType::kLong), &why) == Value(std::int64_t{42}));
  CHECK(PgTextToValue(std::string("42.000"), field(FieldType::kLong), &why) == Value(std::int64_t{42}));
  CHECK_FALSE(PgTextToValue(std::string("2.5"), field(FieldType::kLong), &why));
  CHECK(why == "field 'f' (column c): expected an integer, got '2.5'");
  CHECK_FALSE(PgTextToValue(std::string("3000000000"), field(FieldType::kInt), &why));
  CHECK(PgTextToValue(std::string("t"), field(FieldType::kBoolean), &why) == Value(true));
  CHECK(PgTextToValue(std::string("false"), field(FieldType::kBoolean), &why) == Value(false));
  CHECK_FALSE(PgTextToValue(std::string("maybe"), field(FieldType::kBoolean), &why));
  CHECK(PgTextToValue(std::string("1.5e3"), field(FieldType::kDouble), &why) == Value(1500.0));
  CHECK(std::isnan(std::get<double>(*PgTextToValue(std::string("NaN"), field(FieldType::kDouble), &why))));
  CHECK(PgTextToValue(std::string("-Infinity"), field(FieldType::kDouble), &why) == Value(-std::numeric_limits<double>::infinity()));
  CHECK_FALSE(PgTextToValue(std::string("abc"), field(FieldType::kDouble), &why));
  CHECK(PgTextToValue(std::string("1970-01-02"), field(FieldType::kDate), &why) == Value(std::int64_t{1}));
  CHECK_FALSE(PgTextToValue(std::string("infinity"), field(FieldType::kDate), &why));
  CHECK(why == "field 'f' (column c): expected a date (YYYY-MM-DD), got 'infinity'");
}
