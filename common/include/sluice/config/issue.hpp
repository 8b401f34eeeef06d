#pragma once
// One configuration problem, located by file, key path and line, e.g.
//   pipelines/loans/pipeline.yaml:42:9: cleaner.rules[3].regx: unknown key 'regx' (did you mean 'regex'?)
#include <string>
#include <vector>

namespace sluice::config {

struct Issue {
  std::string file;
  std::string path;  // key path, "" for the document itself
  int line = 0;      // 1-based; 0 when unknown (e.g. environment variables)
  int column = 0;    // 1-based
  std::string message;

  std::string Format() const;
};

// All issues, one per line, ordered by line.
std::string FormatIssues(std::vector<Issue> issues);

}  // namespace sluice::config
