// Type inference of `sluice pipeline new` (services/cli/column_types.hpp): one case per type,
// nullability, the boolean spellings, dates vs timestamps, and the field names of headers.
#include <catch2/catch.hpp>

#include "column_types.hpp"

using sluice::cli::ColumnType;
using sluice::cli::FieldNameOf;
using sluice::cli::InferColumn;
using sluice::cli::InferColumns;

namespace {
ColumnType TypeOf(const std::vector<std::string>& cells) { return InferColumn("c", cells).type; }
}  // namespace

TEST_CASE("integers are int, or long beyond 32 bits") {
  CHECK(TypeOf({"1", "42", "-7", "2"}) == ColumnType::kInt);
  CHECK(TypeOf({"2147483647", "-2147483648"}) == ColumnType::kInt);
  CHECK(TypeOf({"1", "2147483648"}) == ColumnType::kLong);
  CHECK(TypeOf({"9007199254740993", "12"}) == ColumnType::kLong);
}

TEST_CASE("decimals are double, and one decimal makes an integer column double") {
  CHECK(TypeOf({"1.5", "2.25", "-0.5"}) == ColumnType::kDouble);
  CHECK(TypeOf({"1", "2", "3.5"}) == ColumnType::kDouble);
  CHECK(TypeOf({"1e3", "2"}) == ColumnType::kDouble);
  // Text that only looks numeric is not a number.
  CHECK(TypeOf({"1", "2", "3 apples"}) == ColumnType::kString);
  CHECK(TypeOf({"$1,200", "$5"}) == ColumnType::kString);
  // Leading zeros are codes (zip codes, account numbers): a number would lose them.
  CHECK(TypeOf({"02134", "10001"}) == ColumnType::kString);
  CHECK(TypeOf({"0.5", "-0.25", "0"}) == ColumnType::kDouble);
}

TEST_CASE("booleans: yes/no and true/false in any case, and 0/1 when both appear") {
  CHECK(TypeOf({"yes", "no", "Yes", "NO"}) == ColumnType::kBoolean);
  CHECK(TypeOf({"true", "FALSE", "True"}) == ColumnType::kBoolean);
  CHECK(TypeOf({"0", "1", "1", "0"}) == ColumnType::kBoolean);
  // A column of 1s alone is more likely a count than a flag.
  CHECK(TypeOf({"1", "1", "1"}) == ColumnType::kInt);
  CHECK(TypeOf({"0", "1", "2"}) == ColumnType::kInt);
  CHECK(TypeOf({"yes", "no", "maybe"}) == ColumnType::kString);
}

TEST_CASE("booleans spelled y/n/t/f are mapped to words coerce accepts") {
  const auto g = InferColumn("c", {"Y", "n", "yes", "T", "f"});
  REQUIRE(g.type == ColumnType::kBoolean);
  CHECK(g.bool_map == std::map<std::string, std::string>{{"T", "true"}, {"Y", "yes"}, {"f", "false"}, {"n", "no"}});
  CHECK(InferColumn("c", {"yes", "no"}).bool_map.empty());
}

TEST_CASE("dates: one format for every value, ISO first, calendar-checked") {
  auto g = InferColumn("c", {"2024-01-05", "2023-12-31"});
  CHECK(g.type == ColumnType::kDate);
  CHECK(g.format == "%Y-%m-%d");
  g = InferColumn("c", {"12/31/2023", "01/05/2024"});
  CHECK(g.type == ColumnType::kDate);
  CHECK(g.format == "%m/%d/%Y");
  // 31/12 is not month/day: day/month is the one format that reads both.
  g = InferColumn("c", {"31/12/2023", "05/01/2024"});
  CHECK(g.type == ColumnType::kDate);
  CHECK(g.format == "%d/%m/%Y");
  // Not on the calendar: text.
  CHECK(TypeOf({"2023-02-29", "2024-01-01"}) == ColumnType::kString);
  // Mixed date formats are text too: coerce would need to guess per value.
  CHECK(TypeOf({"2024-01-05", "01/06/2024"}) == ColumnType::kString);
}

TEST_CASE("timestamps: a time of day makes a timestamp, not a date") {
  auto g = InferColumn("c", {"2024-01-05 10:00:00", "2024-02-01 23:59:59"});
  CHECK(g.type == ColumnType::kTimestamp);
  CHECK(g.formats == std::vector<std::string>{"%Y-%m-%d %H:%M:%S"});
  // 'T' and ' ' spellings mixed: both formats, in the order coerce should try them.
  g = InferColumn("c", {"2024-01-05 10:00:00", "2024-01-05T11:30:00"});
  CHECK(g.type == ColumnType::kTimestamp);
  CHECK(g.formats == std::vector<std::string>{"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"});
  // A date among timestamps is not a timestamp in these formats: text, for a person to judge.
  CHECK(TypeOf({"2024-01-05 10:00:00", "2024-01-06"}) == ColumnType::kString);
  CHECK(TypeOf({"2024-01-05 25:00:00"}) == ColumnType::kString);
}

TEST_CASE("nullable when an empty cell appears, and blanks are judged trimmed") {
  auto g = InferColumn("c", {"1", "", "3"});
  CHECK(g.type == ColumnType::kInt);
  CHECK(g.nullable);
  CHECK(g.empty == 1);
  CHECK(g.filled == 2);
  CHECK_FALSE(InferColumn("c", {"1", "2"}).nullable);
  g = InferColumn("c", {"", "yes", "", "no"});
  CHECK(g.type == ColumnType::kBoolean);
  CHECK(g.nullable);
  g = InferColumn("c", {"", "2024-01-05"});
  CHECK(g.type == ColumnType::kDate);
  CHECK(g.nullable);
  // Every cell empty: a nullable string (nothing to infer from).
  g = InferColumn("c", {"", ""});
  CHECK(g.type == ColumnType::kString);
  CHECK(g.nullable);
  CHECK(TypeOf({" 12 ", "3"}) == ColumnType::kInt);
}

TEST_CASE("low-cardinality text gets its values listed, free text does not") {
  auto g = InferColumn("c", {"Paris", "Lyon", "Paris", "Lyon", "Nice", "Paris"});
  CHECK(g.type == ColumnType::kString);
  CHECK(g.categories == std::vector<std::string>{"Lyon", "Nice", "Paris"});
  // Every value distinct: an id or free text, not a category.
  CHECK(InferColumn("c", {"a", "b", "c", "d"}).categories.empty());
  // More distinct values than max_categories.
  std::vector<std::string> many;
  for (int i = 0; i < 30; ++i) many.push_back("v" + std::to_string(i % 15));
  CHECK(InferColumn("c", many).categories.empty());
  sluice::cli::InferOptions wide;
  wide.max_categories = 20;
  CHECK(InferColumn("c", many, wide).categories.size() == 15);
}

TEST_CASE("field names from headers") {
  CHECK(FieldNameOf("Name") == "name");
  CHECK(FieldNameOf(" Last Seen ") == "last_seen");
  CHECK(FieldNameOf("Amount ($)") == "amount");
  CHECK(FieldNameOf("2nd-choice") == "_2nd_choice");
  CHECK(FieldNameOf("???") == "column");
  const auto cols = InferColumns({"A b", "a_b", "x"}, {{"1", "2", "3"}, {"4", "", "6"}});
  REQUIRE(cols.size() == 3);
  CHECK(cols[0].field == "a_b");
  CHECK(cols[1].field == "a_b_2");
  CHECK(cols[1].nullable);
  CHECK(cols[2].type == ColumnType::kInt);
}

TEST_CASE("short rows count as empty cells") {
  const auto cols = InferColumns({"a", "b"}, {{"1", "2"}, {"3"}});
  CHECK_FALSE(cols[0].nullable);
  CHECK(cols[1].nullable);
}
