#pragma once
// Which files of a watched directory are ready to ingest. A file is taken only when it is
// complete: its name matches the glob, it is not hidden (".name") and not a temporary
// ("*.tmp", "*.part"), and its size and mtime were the same in two consecutive scans (stable
// for one poll interval). Writers should still write under a temporary name and rename into
// place; the stability rule only protects against writers that do not. A file is offered
// again only when its size or mtime changes (the identity check then decides whether it is
// new). Not thread-safe; one per watched directory.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sluice::producer {

struct FileStat {
  std::string path;
  std::uint64_t size = 0;
  std::int64_t mtime_ns = 0;
};

// True when the file name is one the watcher considers (glob match, not hidden, not temporary).
bool Eligible(const std::string& file_name, const std::string& glob);

// Regular files of `dir` whose names are Eligible, sorted by path. Throws core::InfraError
// (kYes) when the directory cannot be listed.
std::vector<FileStat> ListDirectory(const std::string& dir, const std::string& glob);

class DirWatcher {
 public:
  // require_stable=false offers every file at the first scan (one-shot mode: the files are
  // assumed complete).
  explicit DirWatcher(bool require_stable = true) : require_stable_(require_stable) {}

  // Feeds one scan; returns the files ready to ingest now, in path order.
  std::vector<FileStat> Observe(const std::vector<FileStat>& scan);
  // The caller ingested (or deliberately skipped) this version of the file.
  void MarkTaken(const FileStat& file);

 private:
  bool require_stable_;
  std::map<std::string, FileStat> previous_;  // last scan
  std::map<std::string, FileStat> taken_;     // versions already handed out and taken
};

}  // namespace sluice::producer
