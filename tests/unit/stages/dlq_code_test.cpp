// The DLQ code table: every enumerator has one entry with its own word, and docs/dlq-codes.md
// is the table's rendering.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "sluice/stages/dlq_code.hpp"

using namespace sluice::stages;

TEST_CASE("every DLQ code has one entry and a word of its own") {
  std::set<std::string_view> words;
  int last = static_cast<int>(DlqCode::kRule);
  REQUIRE(DlqCodes().size() == static_cast<std::size_t>(last + 1));
  for (int i = 0; i <= last; ++i) {
    const DlqCodeInfo& info = InfoOf(static_cast<DlqCode>(i));
    CHECK(static_cast<int>(info.code) == i);
    CHECK(!info.when.empty());
    CHECK(!info.reason.empty());
    if (info.code == DlqCode::kRule) {
      CHECK(info.word.empty());
      continue;
    }
    CHECK(words.insert(info.word).second);
    CHECK(IsReservedDlqWord(info.word));
  }
  CHECK(Word(DlqCode::kTooLarge) == "too_large");
  CHECK(!IsReservedDlqWord("required_0"));
}

// Regenerate with: SLUICE_UPDATE_DOCS=1 <build>/tests/test_unit_stages_dlq_code_test
TEST_CASE("docs/dlq-codes.md matches the table") {
  const std::string path = std::string(SLUICE_SOURCE_DIR) + "/docs/dlq-codes.md";
  const std::string generated = DlqCodesMarkdown();
  if (std::getenv("SLUICE_UPDATE_DOCS")) std::ofstream(path, std::ios::binary) << generated;
  std::ifstream in(path, std::ios::binary);
  std::stringstream current;
  current << in.rdbuf();
  INFO("regenerate with SLUICE_UPDATE_DOCS=1 and the test binary");
  CHECK(current.str() == generated);
}
