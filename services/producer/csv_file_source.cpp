#include "csv_file_source.hpp"

#include <chrono>
#include <filesystem>
#include <utility>

#include "sluice/core/error.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/stages/row.hpp"
#include "sluice/stages/dlq_code.hpp"
#include "provenance.hpp"

namespace sluice::producer {
namespace {

namespace fs = std::filesystem;

}  // namespace

struct CsvFileSource::Open {
  FileStat file;
  SourcePosition pos;  // after the last item read (committed, or in the batch being written)
  stages::CsvSource source;
  stages::CsvFileReader reader;
  bool eof = false;  // the last batch reached the end of the file

  Open(const CsvSourceOptions& o, FileStat f, SourcePosition p)
      : file(std::move(f)), pos(std::move(p)), source(o.settings, file.path),
        reader(file.path, o.settings.csv, {pos.byte_offset, pos.line}) {
    if (pos.byte_offset > 0 && o.settings.header) {
      source.UseHeader(stages::CsvSource::ReadHeader(file.path, o.settings.csv));
    }
  }
};

CsvFileSource::CsvFileSource(CsvSourceOptions options, obs::Logger log)
    : opt_(std::move(options)), log_(std::move(log)), watcher_(/*require_stable=*/Watching()) {}

CsvFileSource::~CsvFileSource() = default;

void CsvFileSource::Restore(const std::map<std::string, std::string>& committed) {
  positions_.clear();
  for (const auto& [identity, value] : committed) {
    std::string why;
    if (auto pos = DecodePosition(value, &why)) {
      positions_[identity] = *pos;
    } else {
      log_.Warn("ignoring a malformed position record",
                {{"source", Name()}, {"key", identity}, {"error", why}});
    }
  }
  // What was read since the last commit is forgotten: the open file is offered again first,
  // and reopened from its committed position.
  if (open_) {
    queue_.push_front(open_->file);
    open_.reset();
  }
}

void CsvFileSource::Scan() {
  if (!opt_.settings.path.empty()) {
    if (!path_done_) queue_.push_back({opt_.settings.path, 0, 0});
    return;
  }
  std::vector<FileStat> scan;
  try {
    scan = ListDirectory(opt_.settings.dir, opt_.settings.glob);
  } catch (const core::InfraError& e) {
    if (!Watching()) throw core::InfraError(e.what(), core::Retry::kNo);
    log_.Warn("cannot list the watched directory; will retry", {{"dir", opt_.settings.dir}, {"error", e.what()}});
    return;
  }
  for (const FileStat& f : watcher_.Observe(scan)) queue_.push_back(f);
}

// A single file is done (or, in once mode, was tried); a directory that is not watched was
// scanned once and everything offered is read. A single file that cannot be read yet is tried
// again at every poll interval, unless in once mode.
bool CsvFileSource::NothingMore() const {
  if (!opt_.settings.path.empty()) return path_done_;
  return !Watching() && scanned_;
}

// Opens the next file that is not done yet. False when none is offered now.
bool CsvFileSource::OpenNext() {
  for (;;) {
    if (queue_.empty()) {
      if (NothingMore()) finished_ = true;
      // At most one scan per poll interval, however often the loop asks (it asks after every
      // batch of another source): a watched file is taken once it was unchanged between two
      // scans, and that must span a poll interval.
      const auto now = std::chrono::steady_clock::now();
      if (finished_ || (scanned_ && now - last_scan_ < opt_.settings.poll_interval)) return false;
      last_scan_ = now;
      Scan();
      scanned_ = true;
      if (queue_.empty()) {
        if (NothingMore()) finished_ = true;
        return false;
      }
    }
    FileStat f = queue_.front();
    queue_.pop_front();
    std::string identity;
    try {
      identity = ComputeFileIdentity(f.path);
    } catch (const core::InfraError& e) {
      log_.Warn("source file unreadable; will look again", {{"file", f.path}, {"error", e.what()}});
      if (!opt_.settings.path.empty() && opt_.once) path_done_ = true;
      continue;
    }
    auto it = positions_.find(identity);
    if (it == positions_.end()) {
      SourcePosition fresh;
      fresh.source = Name();
      fresh.identity = identity;
      it = positions_.emplace(identity, fresh).first;
    } else if (it->second.done) {
      log_.Info("file already ingested (same content); nothing to do",
                {{"file", f.path}, {"identity", identity}, {"first_read_as", it->second.file}});
      watcher_.MarkTaken(f);
      if (!opt_.settings.path.empty()) path_done_ = true;
      continue;
    } else if (it->second.byte_offset > 0) {
      log_.Info("resuming file", {{"file", f.path}, {"identity", identity},
                                  {"line", it->second.line}, {"byte_offset", it->second.byte_offset}});
    }
    SourcePosition pos = it->second;
    pos.file = f.path;
    open_ = std::make_unique<Open>(opt_, std::move(f), std::move(pos));
    return true;
  }
}

runtime::PollStatus CsvFileSource::Poll(runtime::SourceBatch& batch, std::size_t max) {
  if (!open_ && !OpenNext()) {
    if (finished_) return runtime::PollStatus::kFinished;
    return runtime::PollStatus::kIdle;
  }
  Read(batch, max);
  return runtime::PollStatus::kBatch;
}

// Reads up to `max` items of the open file into `batch`, with the file's position after them.
void CsvFileSource::Read(runtime::SourceBatch& batch, std::size_t max) {
  Open& o = *open_;
  const std::int64_t now_ms = NowMs();
  const std::string file_name = fs::path(o.file.path).filename().string();
  SourcePosition next = o.pos;
  auto provenance = [&](const stages::CsvPosition& at) {
    runtime::SourceItem item;
    runtime::Record& r = item.record;
    r.origin = runtime::Origin::File(o.file.path, static_cast<std::int64_t>(at.line));
    r.source_time = runtime::SourceTime(std::chrono::milliseconds(now_ms));
    r.headers = {{runtime::kHeaderOrigin, r.origin.ToString()},
                 {runtime::kHeaderSourceTs, std::to_string(now_ms)},
                 {kHeaderSourceName, Name()},
                 {kHeaderSourceFile, file_name},
                 {kHeaderSourceLine, std::to_string(at.line)},
                 {kHeaderSourceOffset, std::to_string(at.offset)}};
    return item;
  };
  auto reject = [&](runtime::SourceItem item, const std::string& raw, stages::Outcome outcome) {
    item.record.value = raw;
    item.record.original = raw;
    item.outcome = std::move(outcome);
    ++next.rejected;
    batch.items.push_back(std::move(item));
  };
  bool eof = false;
  for (std::size_t n = 0; n < max;) {
    auto csv = o.reader.Next();
    if (!csv) {
      eof = true;
      break;
    }
    ++n;
    runtime::SourceItem item = provenance(csv->start);
    stages::SourceRecord r;
    try {
      r = o.source.Accept(*csv);
    } catch (const core::ConfigError& e) {
      // The header does not fit the schema: no row of this file can be read. The header line
      // goes to the DLQ with the reason and the file is finished.
      log_.Error("file header does not match the raw schema; file skipped",
                 {{"file", o.file.path}, {"error", e.what()}});
      item.counted = false;
      reject(std::move(item), csv->raw, stages::Outcome::Reject(stages::DlqCode::kHeader, e.what()));
      next.byte_offset = csv->next.offset;
      next.line = csv->next.line;
      eof = true;
      break;
    }
    next.byte_offset = r.next.offset;
    next.line = r.next.line;
    if (r.outcome.IsSkip()) continue;
    if (!r.outcome.IsEmit()) {
      reject(std::move(item), r.raw, std::move(r.outcome));
      continue;
    }
    item.record.key = KeyOf(r.row, opt_.key_fields);
    item.record.value = std::move(r.row);
    item.record.original = std::move(r.raw);  // the DLQ's value if the loop cannot write the row
    ++next.records;  // informational: a row the loop cannot encode is counted here too
    batch.items.push_back(std::move(item));
  }
  next.done = eof;
  o.eof = eof;
  o.pos = next;
  batch.positions[next.identity] = EncodePosition(next);
}

void CsvFileSource::Committed() {
  if (!open_) return;
  positions_[open_->pos.identity] = open_->pos;
  if (!open_->eof) return;
  const SourcePosition& p = open_->pos;
  log_.Info("file ingested", {{"file", p.file}, {"identity", p.identity}, {"records", p.records},
                              {"rejected", p.rejected}, {"lines", p.line - 1}});
  watcher_.MarkTaken(open_->file);
  if (!opt_.settings.path.empty()) path_done_ = true;
  open_.reset();
}

}  // namespace sluice::producer
