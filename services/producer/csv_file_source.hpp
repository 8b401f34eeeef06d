#pragma once
// The csv source plug-in of the source loop (runtime::SourceLoop): one file, or the files of a
// directory (scanned once, or watched), read from where the last committed batch ended.
//
// Position per file: its identity (ComputeFileIdentity: size + content hash) is the position
// key, and the value a SourcePosition (byte offset, line, done). A batch never spans two
// files; the batch that reaches a file's end marks it done. A file whose identity is already
// done (the same content under any name) is skipped. See README.md for the design.
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dir_watcher.hpp"
#include "sluice/core/duration.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "sluice/stages/csv_reader.hpp"
#include "sluice/stages/csv_source.hpp"
#include "source_position.hpp"

namespace sluice::producer {

// One csv entry of producer.sources, paths resolved against the pipeline file.
struct CsvSourceOptions {
  stages::CsvSourceSettings settings;  // name, files, CSV dialect, header mapping, id derivation
  std::vector<std::string> key_fields;  // producer.key: values joined with '|'
  bool once = false;  // read what is there, then finish (even a watched dir)
};

class CsvFileSource : public runtime::Source {
 public:
  CsvFileSource(CsvSourceOptions options, obs::Logger log);
  ~CsvFileSource() override;

  const std::string& Name() const override { return opt_.settings.name; }
  void Restore(const std::map<std::string, std::string>& committed) override;
  runtime::PollStatus Poll(runtime::SourceBatch& batch, std::size_t max) override;
  void Committed() override;
  core::Duration PollInterval() const override { return opt_.settings.poll_interval; }

 private:
  struct Open;  // the file being read

  bool Watching() const { return !opt_.once && opt_.settings.watch && !opt_.settings.dir.empty(); }
  bool NothingMore() const;
  void Scan();
  bool OpenNext();
  void Read(runtime::SourceBatch& batch, std::size_t max);

  CsvSourceOptions opt_;
  obs::Logger log_;
  DirWatcher watcher_;
  std::map<std::string, SourcePosition> positions_;  // committed, by identity
  std::deque<FileStat> queue_;     // offered, not read yet
  std::unique_ptr<Open> open_;
  std::chrono::steady_clock::time_point last_scan_{};
  bool scanned_ = false;           // scanned at least once
  bool finished_ = false;
  bool path_done_ = false;         // a single-path source's file is done
};

}  // namespace sluice::producer
