// The cleaner's case files: `rules:` (or the pipeline file's cleaner.rules) run through ONE
// Cleaner in order, so dedupe windows and running statistics carry from case to case. `at:`
// is the record's timestamp. Marks are the rules that flagged the record (`flags:`).
#include "case_file.hpp"

#include "sluice/core/error.hpp"
#include "sluice/stages/cleaner.hpp"

namespace sluice::cases {

std::size_t RunCleanerCases(const CaseFile& file, Report& report) {
  const std::string path = file.path.string();
  const auto schema = file.SchemaOf("schema", "schema_file", "clean");
  if (!schema) throw core::ConfigError("no clean schema: give schema, schema_file or pipeline");

  std::size_t checked = RunConfigErrors(file, "rules", [&](const YAML::Node& rules) {
    stages::Cleaner(rules, *schema, path + ": config_errors");
  }, report);
  if (!file.doc["cases"]) return checked;

  stages::Cleaner cleaner(file.ListOf("cleaner", "rules"), *schema, path + ": rules");
  StageCases stage{"flags", "flag", true, &cleaner.output(), [&](const YAML::Node& c) {
                     stages::CleanResult r = cleaner.Process(InputOf(c["input"]), MillisOf(c["at"]));
                     return CaseResult{std::move(r.outcome), std::move(r.row), std::move(r.flags)};
                   }};
  return checked + RunCases(file, stage, report);
}

}  // namespace sluice::cases
