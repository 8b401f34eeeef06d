#include "sluice/config/issue.hpp"

#include <algorithm>

namespace sluice::config {

std::string Issue::Format() const {
  std::string out = file;
  if (line > 0) out += ':' + std::to_string(line) + ':' + std::to_string(column);
  out += ": ";
  if (!path.empty()) out += path + ": ";
  return out + message;
}

std::string FormatIssues(std::vector<Issue> issues) {
  std::stable_sort(issues.begin(), issues.end(), [](const Issue& a, const Issue& b) {
    if (a.file != b.file) return a.file < b.file;
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
  std::string out;
  for (const auto& issue : issues) out += issue.Format() + '\n';
  return out;
}

}  // namespace sluice::config
