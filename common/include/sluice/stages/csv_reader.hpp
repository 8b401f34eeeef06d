#pragma once
// RFC 4180 CSV reading for the producer's CSV source, with row provenance and resumable
// positions. Pure parsing (CsvReader) is separate from file access (CsvFileReader).
//
// Accepted: quoted fields, doubled quotes inside quotes, newlines inside quotes, LF or CRLF
// line ends, a UTF-8 BOM at offset 0, a last line without a line end. A malformed row is
// an item of kind kError (reason, line, byte range, raw bytes) and reading goes on with the
// next physical line; a broken row never stops the file.
#include <cstdint>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/stages/row.hpp"

namespace sluice::stages {

struct CsvOptions {
  char delimiter = ',';
  char quote = '"';
  // A record (usually an unterminated quote swallowing the file) longer than this is an
  // error; reading resumes at the line after the record's first line.
  std::size_t max_record_bytes = 1 << 20;
};

// Where the next record starts. line is 1-based; offset counts bytes from the file start
// (a BOM included), so a position taken from one run resumes exactly in the next.
struct CsvPosition {
  std::uint64_t offset = 0;
  std::uint64_t line = 1;
  friend bool operator==(const CsvPosition&, const CsvPosition&) = default;
};

enum class CsvItemKind { kRecord, kEmptyLine, kError };

// One record, empty line or malformed row.
struct CsvItem {
  CsvItemKind kind = CsvItemKind::kRecord;
  std::vector<std::string> cells;  // kRecord only
  CsvPosition start;               // first byte and line of the item
  CsvPosition next;                // where the following item starts
  std::string reason;              // kError only
  bool too_large = false;          // kError only: longer than CsvOptions::max_record_bytes
  std::string raw;                 // the item's bytes without its line end (for the DLQ)
};

// Incremental parser: Append bytes as they arrive, call Next until it returns nullopt (needs
// more bytes), Finish at end of input. Owns its buffer. Single-threaded.
class CsvReader {
 public:
  explicit CsvReader(CsvOptions options = {}, CsvPosition start = {});

  void Append(std::string_view bytes);
  // No more bytes will come: a trailing line without line end is a record.
  void Finish() { at_eof_ = true; }
  // Records with another column count become kError (0 = any count, e.g. for the header).
  void SetExpectedColumns(std::size_t n) { expected_columns_ = n; }

  std::optional<CsvItem> Next();
  // Position of the next item Next will return.
  CsvPosition position() const { return pos_; }
  // True when Finish was called and every byte was consumed.
  bool Done() const { return at_eof_ && consumed_ == buffer_.size(); }

 private:
  enum class Scan { kItem, kNeedMore };
  Scan ScanRecord(CsvItem& item);
  Scan SkipLine(std::size_t from, std::size_t* line_end, std::size_t* next);
  void Consume(std::size_t end, CsvItem& item);

  CsvOptions options_;
  CsvPosition pos_;
  std::string buffer_;
  std::size_t consumed_ = 0;  // bytes of buffer_ already returned
  bool at_eof_ = false;
  bool bom_checked_ = false;
  std::size_t expected_columns_ = 0;
};

// Identity of a source file, so a stored position is never applied to another file.
// dev+inode detect a replaced file; the hash of the first bytes detects a rewritten one.
struct FileIdentity {
  std::uint64_t device = 0;
  std::uint64_t inode = 0;
  std::uint64_t head_hash = 0;  // hash of the first head_bytes bytes
  std::uint64_t head_bytes = 0;
  friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};
// Throws core::InfraError (kNo) when the file cannot be read.
FileIdentity IdentifyFile(const std::string& path, std::size_t head_bytes = 4096);
std::string ToString(const FileIdentity& id);

// Reads a CSV file from a position in 64 KiB chunks. Not thread-safe.
class CsvFileReader {
 public:
  // Throws core::InfraError (kNo) when the file cannot be opened.
  CsvFileReader(std::string path, CsvOptions options = {}, CsvPosition start = {});
  // nullopt at end of file.
  std::optional<CsvItem> Next();
  CsvReader& reader() { return reader_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ifstream in_;
  CsvReader reader_;
};

// Maps a header row to schema field names: case-insensitive, with renames (column -> field)
// and columns to ignore. Immutable after Build.
class HeaderMapping {
 public:
  // Throws core::ConfigError listing every unknown and every missing column at once.
  static HeaderMapping Build(const std::vector<std::string>& header,
                             const std::vector<std::string>& fields,
                             const std::map<std::string, std::string>& renames,
                             const std::vector<std::string>& ignore, const std::string& origin);
  // Cells -> row of strings in field order; a cell that is blank or, after trimming, one of
  // null_values becomes null.
  Row ToRow(const std::vector<std::string>& cells, const std::vector<std::string>& null_values = {""}) const;
  std::size_t columns() const { return columns_; }

 private:
  std::vector<std::string> fields_;
  std::vector<std::size_t> column_of_field_;
  std::size_t columns_ = 0;
};

// A stable record key from content: a 64-bit hash of `fields` (name=value, values trimmed,
// null distinct from "") printed as prefix + 16 hex digits. Identical rows get the same key,
// so a duplicated line is a duplicate by key and re-feeding a file is idempotent.
std::string ContentKey(const Row& row, const std::vector<std::string>& fields,
                       std::string_view prefix);

// 64-bit FNV-1a followed by a splitmix64 finalizer (stable across platforms and runs).
std::uint64_t StableHash64(std::string_view bytes, std::uint64_t seed = 0);

}  // namespace sluice::stages
