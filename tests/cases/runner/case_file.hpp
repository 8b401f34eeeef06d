#pragma once
// What every case-file runner shares (the format is in tests/cases/README.md): loading a case
// file and the pipeline file it names, schemas, input rows, times, the loop over `cases:`
// comparing each outcome with its expectation, and `config_errors:`. A stage runner
// (cleaner_cases.cpp, enricher_cases.cpp) only builds its stage and turns one input into an
// result. Single-threaded; one CaseFile and one Report per file.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "sluice/pipeline/pipeline_config.hpp"
#include "sluice/stages/outcome.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::cases {

// Failures of one case file, each as "<file>:<line>: <what>" on stderr as they happen.
class Report {
 public:
  explicit Report(std::filesystem::path file) : file_(std::move(file)) {}
  void Fail(const YAML::Node& at, const std::string& what);
  int failures() const { return failures_; }
  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  int failures_ = 0;
};

// One case file, parsed, with the pipeline file its `pipeline:` names (loaded and validated as
// a daemon loads it). Paths in a case file are relative to the case file.
struct CaseFile {
  std::filesystem::path path;
  YAML::Node doc;
  std::optional<pipeline::PipelineConfig> pipeline;

  std::filesystem::path Resolve(const std::string& relative) const;
  // The stage's list (`list_key`: rules, steps): inline in the case file, else the pipeline
  // file's `<section>.<list_key>`. Undefined when neither is there.
  YAML::Node ListOf(const std::string& section, const std::string& list_key) const;
  // A record spec from `inline_key` ({field: type}, "type?" = nullable), else from `file_key`
  // (an .avsc path), else the pipeline's schema `pipeline_role` (clean, enriched); nullopt
  // when none of them is given.
  std::optional<stages::RecordSpec> SchemaOf(const std::string& inline_key, const std::string& file_key,
                                             const std::string& pipeline_role) const;
};

// Parses the file, checks its top-level keys (the common ones plus `stage_keys`), loads the
// pipeline file. Throws core::ConfigError or YAML::Exception.
CaseFile LoadCaseFile(const std::filesystem::path& path, const std::vector<std::string>& stage_keys);

// The `stage:` of a case file (cleaner, enricher), read before anything else.
std::string StageOf(const YAML::Node& doc);

// An input map as cells: ~ is null, quoted scalars stay strings, others as YAML reads them.
stages::Row InputOf(const YAML::Node& input);
// `at:` as milliseconds: a plain integer, or a duration like 25h. 0 when absent.
std::int64_t MillisOf(const YAML::Node& at);

// What a stage did with one case's input: the stage's own Outcome, and its payload.
struct CaseResult {
  stages::Outcome outcome;
  stages::Row row;                 // emit: the output row, typed into the output schema
  std::vector<std::string> marks;  // emit: the cleaner's flags, the enricher's fallbacks
};

// How one stage's cases read: the name of its marks, and the stage itself.
struct StageCases {
  std::string marks_key;     // "flags": the exact list expected (emit: none)
  std::string marked;        // expect value for "emitted with at least one mark": "flag"
  bool can_drop = false;     // expect: drop is meaningful
  const stages::RecordSpec* output = nullptr;  // the output schema
  // Runs one case (its node: input, at, ...). May throw; the case then fails.
  std::function<CaseResult(const YAML::Node& c)> process;
};

// Runs every entry of `cases:` in order through `stage` and checks each expectation. Returns
// the number of cases run.
std::size_t RunCases(const CaseFile& file, const StageCases& stage, Report& report);

// Every entry of `config_errors:` ({<list_key>: [...], error: substring}) must make `build`
// throw core::ConfigError containing the substring. Returns the number of entries.
std::size_t RunConfigErrors(const CaseFile& file, const std::string& list_key,
                            const std::function<void(const YAML::Node& list)>& build, Report& report);

// Adds "<stage>:<type>" for every entry of the stage's list and of its config_errors lists
// (for --covers: every rule and step type has a case file).
void CollectTypes(const CaseFile& file, const std::string& stage, const std::string& list_key,
                  std::set<std::string>& types);

// The stage runners: each builds its stage from the file (or the pipeline file it names) and
// runs the cases and config errors. Return the number checked. Throw for a file they cannot
// run at all.
std::size_t RunCleanerCases(const CaseFile& file, Report& report);
std::size_t RunEnricherCases(const CaseFile& file, Report& report);

}  // namespace sluice::cases
