// Field names of the pipeline file against its schemas (what every daemon's --check runs
// after the file's shape is valid): each case is the shipped pipelines/loans/pipeline.yaml with one
// edit, and must yield exactly the expected issue.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/pipeline/pipeline_fields.hpp"

using sluice::config::Environment;
using sluice::config::Issue;
using sluice::pipeline::PipelineConfig;
using sluice::pipeline::CheckPipelineFields;

namespace {

const std::string kLoans = std::string(SLUICE_SOURCE_DIR) + "/pipelines/loans";

std::string Shipped() {
  std::ifstream in(kLoans + "/pipeline.yaml", std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The shipped file with `from` replaced by `to`; `from` must occur exactly once.
std::string Edited(const std::string& from, const std::string& to) {
  std::string text = Shipped();
  const auto at = text.find(from);
  REQUIRE(at != std::string::npos);
  REQUIRE(text.find(from, at + 1) == std::string::npos);
  return text.replace(at, from.size(), to);
}

// 1-based line and column of the first occurrence of `needle` in `text`.
std::pair<int, int> Position(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  const auto line_start = text.rfind('\n', at) + 1;  // npos + 1 == 0 on the first line
  const int line = static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n')) + 1;
  return {line, static_cast<int>(at - line_start) + 1};
}

std::vector<Issue> FieldIssues(const std::string& yaml) {
  PipelineConfig config;
  auto shape = PipelineConfig::CheckText(yaml, "pipeline.yaml", kLoans, Environment(), &config);
  INFO(sluice::config::FormatIssues(shape));
  REQUIRE(shape.empty());  // the edits keep the shape valid: only the field check may object
  return CheckPipelineFields(config);
}

// The one issue of `yaml`, formatted as --check prints it.
std::string OneIssue(const std::string& yaml) {
  auto issues = FieldIssues(yaml);
  INFO(sluice::config::FormatIssues(issues));
  REQUIRE(issues.size() == 1);
  return issues[0].Format();
}

}  // namespace

TEST_CASE("fields: the shipped loans pipeline names only fields its schemas have") {
  auto config = PipelineConfig::Load(kLoans + "/pipeline.yaml", Environment());
  auto issues = CheckPipelineFields(config);
  INFO(sluice::config::FormatIssues(issues));
  CHECK(issues.empty());
}

TEST_CASE("fields: a cleaner rule naming a field of no schema is one issue at its line and column") {
  const std::string yaml = Edited("fields: [funded_amnt, term,", "fields: [funded_amount, term,");
  const auto [line, column] = Position(yaml, "funded_amount");
  CHECK(OneIssue(yaml) ==
        "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
            ": cleaner.rules[1].fields[0]: unknown field 'funded_amount': not in the raw schema "
            "(loans.raw.v1.avsc) and not written by an earlier rule (did you mean 'funded_amnt'?)");
}

TEST_CASE("fields: a cleaner rule updating an unknown field is reported at its field key") {
  const std::string yaml = Edited("      field: int_rate\n      to: double", "      field: intrate\n      to: double");
  const auto [line, column] = Position(yaml, "intrate");
  CHECK(OneIssue(yaml) ==
        "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
            ": cleaner.rules[6].field: unknown field 'intrate': not in the raw schema "
            "(loans.raw.v1.avsc) and not written by an earlier rule (did you mean 'int_rate'?)");
}

TEST_CASE("fields: each field of a rule's fields list is checked, at its index") {
  // The range rule on a list: the misspelt second name is reported at fields[1].
  const std::string yaml = Edited("      field: funded_amnt\n      min: 500",
                                  "      fields: [funded_amnt, intrate]\n      min: 500");
  const auto [line, column] = Position(yaml, "intrate");
  CHECK(OneIssue(yaml) ==
        "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
            ": cleaner.rules[3].fields[1]: unknown field 'intrate': not in the raw schema "
            "(loans.raw.v1.avsc) and not written by an earlier rule (did you mean 'int_rate'?)");
}

TEST_CASE("fields: a cleaner rule reading a field that only a later rule writes is told the order") {
  // issue_date is not in the raw schema; the last rule (synthetic_date) writes it.
  const std::string issue = OneIssue(Edited("      key: [loan_id]\n      window: 24h",
                                            "      key: [issue_date]\n      window: 24h"));
  CHECK(issue.find("cleaner.rules[0].key[0]: field 'issue_date' is written only by a later rule "
                   "(cleaner.rules[25]): rules run in the order written") != std::string::npos);
}

TEST_CASE("fields: an allowed rule after a coerce that made the field non-text is told the order") {
  const std::string regex_rule = "      type: regex\n      field: term\n      regex: '36|60'";
  SECTION("allowed text values after a coerce to int") {
    const std::string yaml =
        Edited(regex_rule, "      type: allowed\n      field: term\n      values: [term_36, term_60]");
    const auto [line, column] = Position(yaml, "term\n      values: [term_36");
    CHECK(OneIssue(yaml) ==
          "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
              ": cleaner.rules[5].field: rule 'term_36_or_60' (allowed) compares the text of 'term', "
              "which rule 'term_months' (cleaner.rules[4]) has already coerced to int, so every "
              "record with a value would fail it: put the allowed rule before the coerce");
  }
  SECTION("allowed [yes, no] after a coerce to bool") {
    std::string yaml = Edited("      field: term\n      to: int", "      field: term\n      to: bool");
    const auto at = yaml.find(regex_rule);
    REQUIRE(at != std::string::npos);
    yaml.replace(at, regex_rule.size(), "      type: allowed\n      field: term\n      values: ['yes', 'no']");
    const auto [line, column] = Position(yaml, "term\n      values: ['yes'");
    CHECK(OneIssue(yaml) ==
          "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
              ": cleaner.rules[5].field: rule 'term_36_or_60' (allowed) compares the text of 'term', "
              "which rule 'term_months' (cleaner.rules[4]) has already coerced to bool, so every "
              "record with a value would fail it: put the allowed rule before the coerce");
  }
  SECTION("a regex after a coerce to date, named by a fields list") {
    std::string yaml = Edited("      field: term\n      to: int", "      fields: [term]\n      to: date");
    const auto at = yaml.find(regex_rule);
    REQUIRE(at != std::string::npos);
    yaml.replace(at, regex_rule.size(), "      type: regex\n      field: term\n      regex: '2016-.*'");
    CHECK(OneIssue(yaml).find(": cleaner.rules[5].field: rule 'term_36_or_60' (regex) compares the text "
                              "of 'term', which rule 'term_months' (cleaner.rules[4]) has already "
                              "coerced to date") != std::string::npos);
  }
  SECTION("numbers compared as numbers, or allowed before the coerce, are fine") {
    CHECK(FieldIssues(Edited(regex_rule, "      type: allowed\n      field: term\n      values: [36, 60]")).empty());
    CHECK(FieldIssues(Edited("      field: term\n      to: int", "      field: term\n      to: string")).empty());
  }
}

TEST_CASE("fields: a dedupe before a rule that rewrites its key field is told the order") {
  // The loans dedupe keys on loan_id; a key on term, which rule 4 (term_months) coerces, would
  // never find a duplicate (the key compared is the text, the key remembered the number).
  const std::string issue = OneIssue(Edited("      key: [loan_id]\n      window: 24h",
                                            "      key: [term]\n      window: 24h"));
  CHECK(issue.find("cleaner.rules[0].key[0]: rule 'duplicate' (dedupe) keys on 'term', which rule "
                   "'term_months' (cleaner.rules[4], coerce) rewrites after it, so the key it "
                   "remembers is not the key it compares and no duplicate would be found: put the "
                   "dedupe rule after it") != std::string::npos);
}

TEST_CASE("fields: a field a cleaner rule writes must be in the clean schema") {
  const std::string issue = OneIssue(Edited("      field: issue_date\n", "      field: issue_day\n"));
  CHECK(issue.find("cleaner.rules[25].field: field 'issue_day' is not in the clean schema "
                   "(loans.clean.v1.avsc) and no later rule reads it, so its value would be lost "
                   "(did you mean 'issue_date'?)") != std::string::npos);
}

TEST_CASE("fields: an enricher derived field reading an unknown field") {
  const std::string issue = OneIssue(Edited("      from: sub_grade\n", "      from: sub_grad\n"));
  CHECK(issue.find("enricher.steps[1].from: unknown field 'sub_grad': not in the clean schema "
                   "(loans.clean.v1.avsc) and not written by an earlier step (did you mean "
                   "'sub_grade'?)") != std::string::npos);
}

TEST_CASE("fields: an enricher installment naming an unknown input") {
  const std::string issue = OneIssue(Edited("      rate: int_rate\n", "      rate: interest\n"));
  CHECK(issue.find("enricher.steps[2].rate: unknown field 'interest': not in the clean schema "
                   "(loans.clean.v1.avsc) and not written by an earlier step") != std::string::npos);
}

TEST_CASE("fields: every field an enricher expression reads is checked, at the expression") {
  // The installment written as an expression with one misspelt input among correct ones.
  const std::string yaml = Edited(
      "      function: installment\n      principal: funded_amnt\n      rate: int_rate\n      term: term\n",
      "      function: expression\n      expression: 'round(funded_amnt * int_rate / 1200 + coalesce(terms, 1), 2)'\n");
  const auto [line, column] = Position(yaml, "'round(funded_amnt");
  CHECK(OneIssue(yaml) ==
        "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
            ": enricher.steps[2].expression: unknown field 'terms': not in the clean schema "
            "(loans.clean.v1.avsc) and not written by an earlier step (did you mean 'term'?)");
}

TEST_CASE("fields: an enricher lookup key and lookup outputs are checked") {
  SECTION("the key must be a field of the clean record") {
    const std::string yaml = Edited("      key: addr_state\n", "      key: adr_state\n");
    const auto [line, column] = Position(yaml, "adr_state");
    CHECK(OneIssue(yaml) ==
          "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
              ": enricher.steps[0].key: unknown field 'adr_state': not in the clean schema "
              "(loans.clean.v1.avsc) and not written by an earlier step (did you mean 'addr_state'?)");
  }
  SECTION("an output field must be in the enriched schema, at the map value") {
    const std::string yaml = Edited("{name: state_name,", "{name: state_nam,");
    const auto [line, column] = Position(yaml, "state_nam,");
    CHECK(OneIssue(yaml) ==
          "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
              ": enricher.steps[0].fields.name: field 'state_nam' is not in the enriched schema "
              "(loans.enriched.v1.avsc) and no later step reads it, so its value would be lost "
              "(did you mean 'state_name'?)");
  }
}

TEST_CASE("fields: producer and sink keys name fields of the raw and enriched schemas") {
  CHECK(OneIssue(Edited("  key: [loan_id]\n  # The file", "  key: [loan]\n  # The file"))
            .find("producer.key[0]: unknown field 'loan': not in the raw schema (loans.raw.v1.avsc)") !=
        std::string::npos);
  CHECK(OneIssue(Edited("      columns: {Class: loan_class}", "      columns: {Class: class}"))
            .find("producer.sources[0].columns.Class: unknown field 'class'") != std::string::npos);
  CHECK(OneIssue(Edited("  table: loans\n  key: [loan_id]", "  table: loans\n  key: [loan_idd]"))
            .find("sink.key[0]: unknown field 'loan_idd': not in the enriched schema "
                  "(loans.enriched.v1.avsc) (did you mean 'loan_id'?)") != std::string::npos);
}

TEST_CASE("fields: a rule the cleaner refuses to build is one issue naming the rule") {
  const std::string issue = OneIssue(Edited("      min: 500\n", "      min: 50000\n"));
  CHECK(issue.find("cleaner.rules[3] (funded_amnt_range).min: min is greater than max") !=
        std::string::npos);
}

TEST_CASE("fields: a rule that flags, with no flags field in the clean schema, is refused naming "
          "the rule and the field (the flags would vanish at run time)") {
  // The shipped clean schema without its "flags" field, in a temporary directory.
  std::ifstream in(kLoans + "/schemas/loans.clean.v1.avsc", std::ios::binary);
  nlohmann::json schema = nlohmann::json::parse(in);
  auto& fields = schema["fields"];
  const auto before = fields.size();
  fields.erase(std::remove_if(fields.begin(), fields.end(),
                              [](const nlohmann::json& f) { return f["name"] == "flags"; }),
               fields.end());
  REQUIRE(fields.size() == before - 1);
  const auto dir = std::filesystem::temp_directory_path() /
                   ("sluice-noflags-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::string file = (dir / "loans.clean.noflags.avsc").string();
  std::ofstream(file) << schema.dump(2);

  const std::string yaml = Edited("clean: schemas/loans.clean.v1.avsc", "clean: " + file);
  auto issues = FieldIssues(yaml);
  std::filesystem::remove_all(dir);
  INFO(sluice::config::FormatIssues(issues));
  // The first rule that flags: annual_inc_zero, an outlier rule (flag is the outlier default).
  bool found = false;
  for (const Issue& issue : issues) {
    if (issue.Format().find("flags records") == std::string::npos) continue;
    CHECK_FALSE(found);  // one rule, one issue: the cleaner stops at the first
    found = true;
    CHECK(issue.Format().find("pipeline.yaml:") == 0);
    CHECK(issue.Format().find(
              "(annual_inc_zero).action: this rule flags records (action flag), but the clean "
              "schema has no 'flags' field to keep the flags in: add it (a nullable string) or "
              "use another action") != std::string::npos);
  }
  CHECK(found);
}

TEST_CASE("fields: a misspelt field in several rules is one issue, with the did-you-mean, at its "
          "first use") {
  // The same typo in the four rules on revol_util: coerce and range update it, impute writes
  // it, outlier reads it. It used to give two "written only by a later rule" issues and no
  // suggestion.
  std::string yaml = Shipped();
  int replaced = 0;
  for (std::size_t at = 0; (at = yaml.find("field: revol_util\n", at)) != std::string::npos; ++replaced) {
    yaml.replace(at, 17, "field: revol_utl");
  }
  REQUIRE(replaced == 4);
  const auto [line, column] = Position(yaml, "revol_utl");
  // The rule's index: list items of cleaner.rules before the first use.
  const auto rules_at = yaml.find("\ncleaner:\n  rules:\n");
  REQUIRE(rules_at != std::string::npos);
  int index = -1;
  for (std::size_t at = rules_at; (at = yaml.find("\n    - ", at + 1)) < yaml.find("revol_utl"); ) ++index;
  CHECK(OneIssue(yaml) ==
        "pipeline.yaml:" + std::to_string(line) + ":" + std::to_string(column) +
            ": cleaner.rules[" + std::to_string(index) +
            "].field: unknown field 'revol_utl': not in the raw schema (loans.raw.v1.avsc) nor in "
            "the clean schema (loans.clean.v1.avsc), and no earlier rule writes it (did you mean "
            "'revol_util'?)");
}
