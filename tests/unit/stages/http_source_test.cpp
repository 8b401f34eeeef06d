// The http source type's pure logic: templates, JSON paths, positions, reading a page onto the
// raw schema (type checks), and each pagination style's next page.
#include <catch2/catch.hpp>

#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/http_source.hpp"

using namespace sluice::stages;
using nlohmann::json;

namespace {

RecordSpec PriceSpec() {
  return RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"P","fields":[
    {"name":"symbol","type":"string"},
    {"name":"date","type":"string"},
    {"name":"close","type":"double"},
    {"name":"volume","type":["null","long"],"default":null},
    {"name":"days","type":["null","int"],"default":null},
    {"name":"live","type":["null","boolean"],"default":null}]})"),
                            "test");
}

HttpSourceSettings Settings(Pagination p, const std::string& page_path = "") {
  HttpSourceSettings s;
  s.name = "t";
  s.url = "http://x/h";
  s.records = "data";
  s.fields = {{"symbol", "$.symbol"}};
  s.cursor_field = "date";
  s.cursor_kind = CursorKind::kDate;
  s.pagination = p;
  s.page_start = p == Pagination::kPage ? 1 : 0;
  s.page_size = 2;
  s.page_path = page_path;
  s.max_records_per_page = 3;
  return s;
}

const EnvLookup kEnv = [](const std::string& name) -> std::optional<std::string> {
  if (name == "TOKEN") return std::string("s3cret");
  return std::nullopt;
};

}  // namespace

TEST_CASE("ExpandTemplate fills cursor, page and env variables") {
  CHECK(ExpandTemplate("{env:TOKEN}/a?x={cursor}&p={page}", {{"cursor", "2000-01-01"}, {"page", "3"}}, kEnv, "w") ==
        "s3cret/a?x=2000-01-01&p=3");
  CHECK(ExpandTemplate("{{literal}}", {}, kEnv, "w") == "{literal}");
  CHECK_THROWS_WITH(ExpandTemplate("{env:MISSING}", {}, kEnv, "source spx: url"),
                    "source spx: url: environment variable MISSING is not set");
  CHECK_THROWS_AS(ExpandTemplate("{nope}", {}, kEnv, "w"), sluice::core::ConfigError);
  CHECK(TemplateNames("{env:A}/{cursor}/{page}") == std::vector<std::string>{"cursor", "page"});
}

TEST_CASE("JsonAt follows dotted paths and indexes") {
  const json j = json::parse(R"({"a":{"b":[{"c":1},{"c":2}]},"d":null})");
  REQUIRE(JsonAt(j, "a.b[1].c") != nullptr);
  CHECK(*JsonAt(j, "a.b[1].c") == 2);
  CHECK(JsonAt(j, "") == &j);
  CHECK(JsonAt(j, "a.b[2].c") == nullptr);
  CHECK(JsonAt(j, "a.x") == nullptr);
  CHECK(JsonAt(j, "d")->is_null());
}

TEST_CASE("ParseRate reads per second, minute and hour") {
  CHECK(*ParseRate("10/s") == 10);
  CHECK(*ParseRate("600/m") == 10);
  CHECK(*ParseRate("3600/h") == 1);
  CHECK_FALSE(ParseRate("10"));
  CHECK_FALSE(ParseRate("x/s"));
  CHECK_FALSE(ParseRate("10/d"));
}

TEST_CASE("an http position survives encoding, and a malformed one is refused with why") {
  HttpPosition p;
  p.sweep_cursor = "2000-01-01";
  p.last_cursor = "2000-02-01";
  p.page = "tok==";
  p.index = 7;
  p.dead_page = "3";
  p.records = 100;
  p.pages = 4;
  const auto back = DecodeHttpPosition(EncodeHttpPosition(p), nullptr);
  REQUIRE(back);
  CHECK(back->sweep_cursor == p.sweep_cursor);
  CHECK(back->last_cursor == p.last_cursor);
  CHECK(back->page == p.page);
  CHECK(back->index == 7);
  CHECK(back->dead_page == "3");
  CHECK(back->records == 100);
  std::string why;
  CHECK_FALSE(DecodeHttpPosition("{\"page\":1}", &why));
  CHECK_FALSE(why.empty());
  CHECK_FALSE(DecodeHttpPosition("not json", &why));
}

TEST_CASE("a page's records are mapped onto the raw schema with type checks") {
  // Six records: over max_records_per_page (3 in Settings), the page is refused as a whole.
  const std::string body = R"({"symbol":"SPX","data":[
      {"date":"2000-01-03","close":1455.2,"volume":931800000,"days":3,"live":true},
      {"date":"2000-01-04","volume":1},
      {"date":"2000-01-05","close":1.5,"volume":"12"},
      {"date":"2000-01-06","close":1.5,"volume":1.0e3,"days":3000000000},
      {"date":20000107,"close":2,"volume":null},
      "not an object"]})";
  HttpPageReader reader(Settings(Pagination::kNone), PriceSpec());
  const HttpPage page = reader.Read(body, "");
  CHECK_FALSE(page.readable);
  CHECK(page.problem == "6 records, more than max_records_per_page (3)");

  HttpSourceSettings wide = Settings(Pagination::kNone);
  wide.max_records_per_page = 100;
  HttpPageReader r2(wide, PriceSpec());
  const HttpPage p2 = r2.Read(body, "");
  REQUIRE(p2.readable);
  REQUIRE(p2.records.size() == 6);
  const HttpRecord& ok = p2.records[0];
  REQUIRE(ok.outcome.IsEmit());
  CHECK(ok.row.Get("symbol") == Value(std::string("SPX")));
  CHECK(ok.row.Get("close") == Value(1455.2));
  CHECK(ok.row.Get("volume") == Value(std::int64_t{931800000}));
  CHECK(ok.row.Get("days") == Value(std::int64_t{3}));
  CHECK(ok.row.Get("live") == Value(true));
  CHECK(ok.cursor == "2000-01-03");
  CHECK(p2.records[1].outcome.DlqReason() == "field 'close' (close): missing (required)");
  CHECK(p2.records[2].outcome.DlqReason() == "field 'volume' (volume): expected an integer, got a string");
  CHECK(p2.records[3].outcome.DlqReason() == "field 'days' (days): integer 3000000000 does not fit an int");
  // a number for a string field is kept as its JSON text; a null for a nullable field is null
  REQUIRE(p2.records[4].outcome.IsEmit());
  CHECK(p2.records[4].row.Get("date") == Value(std::string("20000107")));
  CHECK(IsNull(p2.records[4].row.Get("volume")));
  CHECK(p2.records[4].cursor.empty());  // not a date: never moves a date cursor
  CHECK(p2.records[5].outcome.DlqReason() == "record is a string, not a JSON object");
  CHECK(p2.records[5].original == "\"not an object\"");
  CHECK_FALSE(p2.next);  // pagination none: one page
}

TEST_CASE("a page that cannot be read says why") {
  HttpPageReader reader(Settings(Pagination::kNone), PriceSpec());
  CHECK(reader.Read("{\"data\": [", "").problem.rfind("not JSON: ", 0) == 0);
  CHECK(reader.Read("{\"rows\": []}", "").problem == "no record list at 'data'");
  CHECK(reader.Read("{\"data\": {}}", "").problem == "'data' is an object, not a list of records");
}

TEST_CASE("each pagination style names the next page, or ends the sweep") {
  const std::string two = R"({"symbol":"S","data":[{"date":"2000-01-03","close":1},{"date":"2000-01-04","close":1}],
                              "next_cursor":"abc","links":{"next":"/p?page=2"},"total_pages":3})";
  const std::string one = R"({"symbol":"S","data":[{"date":"2000-01-05","close":1}],"next_cursor":null,"total_pages":3})";
  const std::string none = R"({"symbol":"S","data":[],"total_pages":3})";

  HttpPageReader cursor(Settings(Pagination::kCursor, "next_cursor"), PriceSpec());
  CHECK(*cursor.Read(two, "").next == "abc");
  CHECK_FALSE(cursor.Read(one, "abc").next);
  CHECK_FALSE(cursor.NextWithoutBody("abc"));  // unsafe to move past a bad page

  HttpPageReader link(Settings(Pagination::kNextLink, "links.next"), PriceSpec());
  CHECK(*link.Read(two, "").next == "/p?page=2");
  CHECK_FALSE(link.Read(one, "").next);

  HttpPageReader page(Settings(Pagination::kPage, "total_pages"), PriceSpec());
  CHECK(*page.Read(two, "").next == "2");
  CHECK(*page.Read(two, "2").next == "3");
  CHECK_FALSE(page.Read(two, "3").next);  // the last page by total_pages
  CHECK_FALSE(page.Read(none, "2").next);  // an empty page ends it too
  CHECK(*page.NextWithoutBody("3") == "4");

  HttpPageReader offset(Settings(Pagination::kOffset), PriceSpec());
  CHECK(*offset.Read(two, "").next == "2");
  CHECK(*offset.Read(two, "2").next == "4");
  CHECK_FALSE(offset.Read(one, "4").next);  // shorter than the page size: the last
  CHECK(*offset.NextWithoutBody("4") == "6");
}

TEST_CASE("the cursor moves only forward and only by values of its kind") {
  HttpPageReader dates(Settings(Pagination::kNone), PriceSpec());
  CHECK(dates.CursorAfter("2000-01-04", "2000-01-03"));
  CHECK_FALSE(dates.CursorAfter("2000-01-03", "2000-01-04"));
  CHECK_FALSE(dates.CursorAfter("undefined", "2000-01-03"));  // the real FX file's last row
  CHECK(dates.CursorAfter("2000-01-03", ""));
  HttpSourceSettings n = Settings(Pagination::kNone);
  n.cursor_kind = CursorKind::kNumber;
  HttpPageReader numbers(n, PriceSpec());
  CHECK(numbers.CursorAfter("10", "9"));  // numerically, not as text
  CHECK_FALSE(numbers.CursorAfter("abc", "9"));
}

TEST_CASE("a JSON body template keeps its own braces") {
  CHECK(ExpandTemplate(R"({"page": {page}, "since": "{cursor}"})", {{"page", "2"}, {"cursor", "x"}}, kEnv, "w") ==
        R"({"page": 2, "since": "x"})");
  CHECK(TemplateNames(R"({"a": {"b": {page}}})") == std::vector<std::string>{"page"});
}
