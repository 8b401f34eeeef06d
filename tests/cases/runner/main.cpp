// test_unit_case_runner: runs case files (tests/cases/README.md), each file on its own; ctest
// registers one test per file (tests/cases/CMakeLists.txt).
//
//   test_unit_case_runner <case file>...
//   test_unit_case_runner --covers cleaner:required,range --covers enricher:derive <case file>...
//
// Prints each failure as <file>:<line>: <what>, then one summary line per file. With --covers
// it runs nothing and checks that every listed rule or step type appears in at least one of
// the files (in its rules/steps or its config_errors). Exit 0 when everything passed, 1 when
// anything failed, 2 for a bad command line.
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "case_file.hpp"

namespace {

using namespace sluice::cases;

struct Stage {
  std::string name;
  std::string list_key;               // its rules or steps
  std::vector<std::string> keys;      // the top-level keys of its files beyond the common ones
  std::size_t (*run)(const CaseFile&, Report&);
};

const std::vector<Stage>& Stages() {
  static const std::vector<Stage> stages = {
      {"cleaner", "rules", {"rules"}, RunCleanerCases},
      {"enricher", "steps", {"steps", "input_schema", "input_schema_file", "tables", "versioned_tables", "http"}, RunEnricherCases},
  };
  return stages;
}

// Runs the file (or only collects its types when `types` is given). Returns the number of
// cases and config errors checked; failures go to `report`.
std::size_t RunFile(const std::filesystem::path& path, Report& report, std::set<std::string>* types) {
  try {
    const std::string name = StageOf(YAML::LoadFile(path.string()));
    for (const auto& stage : Stages()) {
      if (stage.name != name) continue;
      const CaseFile file = LoadCaseFile(path, stage.keys);
      if (!types) return stage.run(file, report);
      CollectTypes(file, stage.name, stage.list_key, *types);
      return 1;
    }
    report.Fail(YAML::Node(), "unknown stage '" + name + "' (cleaner, enricher)");
  } catch (const std::exception& e) {
    report.Fail(YAML::Node(), e.what());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> covers;
  std::vector<std::filesystem::path> files;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--covers" && i + 1 < argc) {
      const std::string spec = argv[++i];
      const auto colon = spec.find(':');
      if (colon == std::string::npos) {
        std::cerr << "--covers needs <stage>:<type>,<type>...\n";
        return 2;
      }
      std::stringstream list(spec.substr(colon + 1));
      for (std::string type; std::getline(list, type, ',');) covers.push_back(spec.substr(0, colon + 1) + type);
    } else if (!arg.empty() && arg[0] == '-') {
      std::cerr << "usage: " << argv[0] << " [--covers <stage>:<type>,...]... <case file>...\n";
      return 2;
    } else {
      files.emplace_back(arg);
    }
  }
  if (files.empty()) {
    std::cerr << "no case files given\n";
    return 2;
  }

  int failed = 0;
  std::set<std::string> types;
  for (const auto& path : files) {
    Report report(path);
    const std::size_t checked = RunFile(path, report, covers.empty() ? nullptr : &types);
    // A file that checks nothing would pass whatever the stage does.
    if (checked == 0 && report.failures() == 0) report.Fail(YAML::Node(), "no cases and no config_errors");
    if (covers.empty()) {
      std::cout << path.string() << ": " << checked << " checked, "
                << (report.failures() ? std::to_string(report.failures()) + " failed" : "ok") << "\n";
    }
    failed += report.failures();
  }
  for (const auto& type : covers) {
    const bool used = types.count(type) > 0;
    std::cout << type << ": " << (used ? "has cases" : "NO case file uses it") << "\n";
    if (!used) ++failed;
  }
  return failed ? 1 : 0;
}
