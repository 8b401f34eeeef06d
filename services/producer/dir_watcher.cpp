#include "dir_watcher.hpp"

#include <fnmatch.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "sluice/core/error.hpp"

namespace sluice::producer {

namespace {
bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool Same(const FileStat& a, const FileStat& b) { return a.size == b.size && a.mtime_ns == b.mtime_ns; }
}  // namespace

bool Eligible(const std::string& name, const std::string& glob) {
  if (name.empty() || name[0] == '.') return false;
  if (EndsWith(name, ".tmp") || EndsWith(name, ".part")) return false;
  return ::fnmatch(glob.c_str(), name.c_str(), FNM_PERIOD) == 0;
}

std::vector<FileStat> ListDirectory(const std::string& dir, const std::string& glob) {
  std::vector<FileStat> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) throw core::InfraError(dir + ": cannot list directory: " + ec.message(), core::Retry::kYes);
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (!Eligible(name, glob)) continue;
    struct stat st {};
    if (::stat(entry.path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;  // gone or not a file
    FileStat f;
    f.path = entry.path().string();
    f.size = static_cast<std::uint64_t>(st.st_size);
    f.mtime_ns = static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    out.push_back(std::move(f));
  }
  std::sort(out.begin(), out.end(), [](const FileStat& a, const FileStat& b) { return a.path < b.path; });
  return out;
}

std::vector<FileStat> DirWatcher::Observe(const std::vector<FileStat>& scan) {
  std::vector<FileStat> ready;
  std::map<std::string, FileStat> now;
  for (const auto& f : scan) {
    now[f.path] = f;
    auto taken = taken_.find(f.path);
    if (taken != taken_.end() && Same(taken->second, f)) continue;
    auto prev = previous_.find(f.path);
    bool stable = prev != previous_.end() && Same(prev->second, f);
    if (!require_stable_ || stable) ready.push_back(f);
  }
  // Forget files that disappeared, so a file renamed back into place is looked at again.
  for (auto it = taken_.begin(); it != taken_.end();) {
    it = now.count(it->first) ? std::next(it) : taken_.erase(it);
  }
  previous_ = std::move(now);
  std::sort(ready.begin(), ready.end(), [](const FileStat& a, const FileStat& b) { return a.path < b.path; });
  return ready;
}

void DirWatcher::MarkTaken(const FileStat& file) { taken_[file.path] = file; }

}  // namespace sluice::producer
