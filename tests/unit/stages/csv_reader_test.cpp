#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "sluice/core/error.hpp"
#include "sluice/stages/csv_reader.hpp"

using namespace sluice::stages;

namespace {

std::vector<CsvItem> ReadAll(std::string_view text, std::size_t columns = 0, std::size_t chunk = 0,
                             CsvOptions options = {}) {
  CsvReader r(options);
  r.SetExpectedColumns(columns);
  std::vector<CsvItem> out;
  if (chunk == 0) chunk = text.size() + 1;
  for (std::size_t i = 0; i < text.size(); i += chunk) {
    r.Append(text.substr(i, chunk));
    while (auto item = r.Next()) out.push_back(*item);
  }
  r.Finish();
  while (auto item = r.Next()) out.push_back(*item);
  REQUIRE(r.Done());
  return out;
}

}  // namespace

TEST_CASE("csv: plain records, LF and CRLF, last line without newline") {
  auto items = ReadAll("a,b\r\n1,2\n3,4");
  REQUIRE(items.size() == 3);
  CHECK(items[0].cells == std::vector<std::string>{"a", "b"});
  CHECK(items[1].cells == std::vector<std::string>{"1", "2"});
  CHECK(items[2].cells == std::vector<std::string>{"3", "4"});
  CHECK(items[1].start.line == 2);
  CHECK(items[1].start.offset == 5);
  CHECK(items[2].start.line == 3);
  CHECK(items[2].next.offset == 12);
}

TEST_CASE("csv: quotes, doubled quotes, embedded newlines and delimiters") {
  const std::string text = "x,y\n\"a,b\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\nlast,\"\"\n";
  for (std::size_t chunk : {0u, 1u, 2u, 3u, 7u}) {
    auto items = ReadAll(text, 2, chunk);
    REQUIRE(items.size() == 4);
    CHECK(items[1].cells == std::vector<std::string>{"a,b", "say \"hi\""});
    CHECK(items[2].cells == std::vector<std::string>{"multi\nline", "z"});
    CHECK(items[2].start.line == 3);
    CHECK(items[3].start.line == 5);
    CHECK(items[3].cells == std::vector<std::string>{"last", ""});
  }
}

TEST_CASE("csv: a UTF-8 BOM is skipped but counted in offsets") {
  auto items = ReadAll("\xEF\xBB\xBF" "a,b\n1,2\n", 2, 1);
  REQUIRE(items.size() == 2);
  CHECK(items[0].cells[0] == "a");
  CHECK(items[0].start.offset == 3);
  CHECK(items[1].start.offset == 7);
}

TEST_CASE("csv: empty and blank lines are reported as such") {
  auto items = ReadAll("a,b\n\n1,2\r\n  \r\n3,4\n", 2);
  REQUIRE(items.size() == 5);
  CHECK(items[1].kind == CsvItemKind::kEmptyLine);
  CHECK(items[1].start.line == 2);
  CHECK(items[3].kind == CsvItemKind::kEmptyLine);
  CHECK(items[3].start.line == 4);
  CHECK(items[4].cells == std::vector<std::string>{"3", "4"});
}

TEST_CASE("csv: malformed rows are error values and reading continues") {
  const std::string text =
      "a,b,c\n"
      "1,2,3\n"
      "1,x\"y,3\n"          // stray quote
      "\"1\"x,2,3\n"        // junk after closing quote
      "1,2\n"               // too few columns
      "1,2,3,4\n"           // too many
      "7,8,9\n"
      "\"open,2,3\n"        // unterminated quote: swallows to EOF, then recovers
      "10,11,12\n";
  for (std::size_t chunk : {0u, 1u, 5u}) {
    auto items = ReadAll(text, 3, chunk);
    REQUIRE(items.size() == 9);
    CHECK(items[1].kind == CsvItemKind::kRecord);
    CHECK(items[2].kind == CsvItemKind::kError);
    CHECK_THAT(items[2].reason, Catch::Contains("stray quote"));
    CHECK(items[2].start.line == 3);
    CHECK(items[2].raw == "1,x\"y,3");
    CHECK_THAT(items[3].reason, Catch::Contains("after closing quote"));
    CHECK_THAT(items[4].reason, Catch::Contains("expected 3 columns, found 2"));
    CHECK_THAT(items[5].reason, Catch::Contains("found 4"));
    CHECK(items[6].cells == std::vector<std::string>{"7", "8", "9"});
    CHECK(items[7].kind == CsvItemKind::kError);
    CHECK_THAT(items[7].reason, Catch::Contains("unterminated"));
    CHECK(items[7].start.line == 8);
    CHECK(items[7].raw == "\"open,2,3");
    CHECK(items[8].cells == std::vector<std::string>{"10", "11", "12"});
    CHECK(items[8].start.line == 9);
  }
}

TEST_CASE("csv: a record longer than the cap is an error on its first line") {
  CsvOptions o;
  o.max_record_bytes = 16;
  auto items = ReadAll("\"aaaaaaaaaaaaaaaaaaaaaaa\nb\nc\"\nd\n", 0, 4, o);
  REQUIRE(items.size() >= 2);
  CHECK(items[0].kind == CsvItemKind::kError);
  CHECK_THAT(items[0].reason, Catch::Contains("longer than 16"));
  CHECK(items[1].cells == std::vector<std::string>{"b"});
}

TEST_CASE("csv: the file reader resumes exactly from a stored position") {
  const std::string path = std::string(SLUICE_BINARY_DIR) + "/csv_reader_test.csv";
  {
    std::ofstream out(path, std::ios::binary);
    out << "\xEF\xBB\xBF" "id,v\r\n1,\"a\nb\"\r\n2,c\r\n3,d";
  }
  CsvFileReader all(path);
  std::vector<CsvItem> items;
  while (auto it = all.Next()) items.push_back(*it);
  REQUIRE(items.size() == 4);
  CHECK(items[3].cells == std::vector<std::string>{"3", "d"});

  CsvFileReader resumed(path, {}, items[2].start);
  auto first = resumed.Next();
  REQUIRE(first);
  CHECK(first->cells == std::vector<std::string>{"2", "c"});
  CHECK(first->start == items[2].start);
  CHECK(first->start.line == 4);
  auto second = resumed.Next();
  REQUIRE(second);
  CHECK(second->start.line == 5);
  CHECK(!resumed.Next());

  const auto id1 = IdentifyFile(path);
  CHECK(id1 == IdentifyFile(path));
  CHECK(id1.head_bytes > 0);
  std::remove(path.c_str());
}

TEST_CASE("csv: header mapping is case-insensitive with renames and one clear error") {
  const std::vector<std::string> fields = {"funded_amnt", "term", "klass"};
  auto m = HeaderMapping::Build({"Term", "FUNDED_AMNT", "Class"}, fields, {{"class", "klass"}}, {}, "f.csv");
  Row row = m.ToRow({"term_36", "1000", " "});
  CHECK(row.Get("funded_amnt") == Value{std::string("1000")});
  CHECK(row.Get("term") == Value{std::string("term_36")});
  CHECK(IsNull(row.Get("klass")));
  CHECK(row.cells()[0].first == "funded_amnt");

  try {
    HeaderMapping::Build({"term", "bogus", "other"}, fields, {}, {"other"}, "f.csv");
    FAIL("expected ConfigError");
  } catch (const sluice::core::ConfigError& e) {
    const std::string what = e.what();
    CHECK_THAT(what, Catch::Contains("f.csv"));
    CHECK_THAT(what, Catch::Contains("unknown columns [bogus]"));
    CHECK_THAT(what, Catch::Contains("missing fields [funded_amnt, klass]"));
  }
}

TEST_CASE("csv: content keys are stable and distinguish null from empty") {
  Row a{{"x", std::string("1")}, {"y", std::string(" b ")}};
  Row b{{"y", std::string("b")}, {"x", std::string("1")}};
  Row c{{"x", std::string("1")}, {"y", Null{}}};
  Row d{{"x", std::string("1")}, {"y", std::string("")}};
  const std::vector<std::string> f = {"x", "y"};
  CHECK(ContentKey(a, f, "L-") == ContentKey(b, f, "L-"));
  CHECK(ContentKey(a, f, "L-").size() == 18);
  CHECK(ContentKey(c, f, "") != ContentKey(d, f, ""));
  CHECK(ContentKey(a, f, "") != ContentKey(c, f, ""));
  // Pinned: the key of a row must never change between releases (ids are stored in PG).
  CHECK(StableHash64("") == StableHash64(""));
  CHECK(ContentKey(Row{{"x", std::string("1")}}, {"x"}, "") == ContentKey(Row{{"x", std::string("1")}}, {"x"}, ""));
}
