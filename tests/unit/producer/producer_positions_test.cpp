// Pure parts of sluice-producer: file identity, position records, directory watching rules.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "dir_watcher.hpp"
#include "source_position.hpp"

namespace fs = std::filesystem;
using namespace sluice::producer;

namespace {

fs::path TempDir() {
  std::random_device rd;
  fs::path d = fs::temp_directory_path() / ("sluice-producer-unit-" + std::to_string(rd()));
  fs::create_directories(d);
  return d;
}

void Write(const fs::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary);
  out << bytes;
}

}  // namespace

TEST_CASE("file identity depends on the content only") {
  fs::path dir = TempDir();
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "row," + std::to_string(i) + "\n";  // > 64 KiB: several chunks
  Write(dir / "a.csv", big);
  fs::create_directories(dir / "sub");
  Write(dir / "sub" / "copy-of-a.csv", big);
  std::string changed_tail = big;
  changed_tail[changed_tail.size() - 2] = 'X';
  Write(dir / "b.csv", changed_tail);
  Write(dir / "c.csv", big + "one,more\n");
  Write(dir / "empty.csv", "");

  const std::string a = ComputeFileIdentity((dir / "a.csv").string());
  CHECK(a == ComputeFileIdentity((dir / "sub" / "copy-of-a.csv").string()));
  CHECK(a.rfind(std::to_string(big.size()) + "-", 0) == 0);
  CHECK(a != ComputeFileIdentity((dir / "b.csv").string()));  // same size, last chunk differs
  CHECK(a != ComputeFileIdentity((dir / "c.csv").string()));
  CHECK(ComputeFileIdentity((dir / "empty.csv").string()).rfind("0-", 0) == 0);
  CHECK_THROWS(ComputeFileIdentity((dir / "missing.csv").string()));
  fs::remove_all(dir);
}

TEST_CASE("position records round-trip and malformed ones are refused with a reason") {
  SourcePosition p;
  p.source = "lending_club";
  p.file = "/data/in/loans \"q1\".csv";
  p.identity = "983269-0123456789abcdef";
  p.byte_offset = 123456789012ULL;
  p.line = 9858;
  p.done = true;
  p.records = 9800;
  p.rejected = 57;
  auto back = DecodePosition(EncodePosition(p));
  REQUIRE(back);
  CHECK(*back == p);
  CHECK(PositionKey("lending_club", p.identity) == "lending_club/983269-0123456789abcdef");

  std::string why;
  CHECK_FALSE(DecodePosition("not json", &why));
  CHECK(why == "not a JSON object");
  CHECK_FALSE(DecodePosition(R"({"source":"s","identity":"x","line":1,"done":false})", &why));
  CHECK(why.find("byte_offset") != std::string::npos);
  CHECK_FALSE(DecodePosition(R"({"source":"s","identity":"x","byte_offset":-1,"line":1,"done":false})", &why));
  CHECK_FALSE(DecodePosition(R"({"source":"s","identity":"","byte_offset":0,"line":1,"done":false})", &why));
  CHECK_FALSE(DecodePosition(R"({"source":"s","identity":"x","byte_offset":0,"line":0,"done":false})", &why));
  CHECK(DecodePosition(R"({"source":"s","identity":"x","byte_offset":0,"line":1,"done":false})"));
}

TEST_CASE("eligible names: glob match, no hidden or temporary files") {
  CHECK(Eligible("loans.csv", "*.csv"));
  CHECK(Eligible("loans-2016.csv", "loans-*.csv"));
  CHECK_FALSE(Eligible("other.csv", "loans-*.csv"));
  CHECK_FALSE(Eligible(".loans.csv", "*.csv"));
  CHECK_FALSE(Eligible("loans.csv.tmp", "*"));
  CHECK_FALSE(Eligible("loans.csv.part", "*"));
  CHECK_FALSE(Eligible("loans.txt", "*.csv"));
}

TEST_CASE("a watched file is offered once it was stable for one scan, and again only when it changes") {
  DirWatcher w(/*require_stable=*/true);
  FileStat a{"/d/a.csv", 100, 1};
  CHECK(w.Observe({a}).empty());  // first sight: maybe still being written
  FileStat a_grown{"/d/a.csv", 200, 2};
  CHECK(w.Observe({a_grown}).empty());  // grew: still not stable
  auto ready = w.Observe({a_grown});
  REQUIRE(ready.size() == 1);
  CHECK(ready[0].path == "/d/a.csv");
  w.MarkTaken(ready[0]);
  CHECK(w.Observe({a_grown}).empty());  // taken: not offered again
  FileStat b{"/d/b.csv", 5, 1};
  CHECK(w.Observe({a_grown, b}).empty());
  ready = w.Observe({a_grown, b});
  REQUIRE(ready.size() == 1);
  CHECK(ready[0].path == "/d/b.csv");
  // Not marked taken (e.g. interrupted): offered again next scan.
  CHECK(w.Observe({a_grown, b}).size() == 1);
  // A taken file rewritten in place is looked at again once stable.
  FileStat a_rewritten{"/d/a.csv", 300, 3};
  CHECK(w.Observe({a_rewritten}).empty());
  CHECK(w.Observe({a_rewritten}).size() == 1);
}

TEST_CASE("one-shot watching offers every file at the first scan, in path order") {
  DirWatcher w(/*require_stable=*/false);
  auto ready = w.Observe({{"/d/b.csv", 1, 1}, {"/d/a.csv", 1, 1}});
  REQUIRE(ready.size() == 2);
  CHECK(ready[0].path == "/d/a.csv");
  CHECK(ready[1].path == "/d/b.csv");
}

TEST_CASE("ListDirectory lists eligible regular files sorted, and fails for a missing dir") {
  fs::path dir = TempDir();
  Write(dir / "b.csv", "x");
  Write(dir / "a.csv", "xy");
  Write(dir / ".hidden.csv", "x");
  Write(dir / "c.csv.tmp", "x");
  fs::create_directories(dir / "d.csv");
  auto files = ListDirectory(dir.string(), "*.csv");
  REQUIRE(files.size() == 2);
  CHECK(fs::path(files[0].path).filename() == "a.csv");
  CHECK(files[0].size == 2);
  CHECK(fs::path(files[1].path).filename() == "b.csv");
  CHECK_THROWS(ListDirectory((dir / "nope").string(), "*.csv"));
  fs::remove_all(dir);
}
