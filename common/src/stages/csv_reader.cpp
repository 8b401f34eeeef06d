#include "sluice/stages/csv_reader.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "sluice/core/error.hpp"

namespace sluice::stages {

using core::ConfigError;
using core::InfraError;
using core::Retry;

CsvReader::CsvReader(CsvOptions options, CsvPosition start) : options_(options), pos_(start) {
  // A BOM can only be at the very start of a file.
  bom_checked_ = start.offset != 0;
}

void CsvReader::Append(std::string_view bytes) {
  // Drop returned bytes once they dominate the buffer, so memory stays bounded by the
  // largest record plus one chunk.
  if (consumed_ > 0 && consumed_ >= buffer_.size() / 2) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

void CsvReader::Consume(std::size_t next, CsvItem& item) {
  item.start = pos_;
  const std::string_view span(buffer_.data() + consumed_, next - consumed_);
  pos_.offset += span.size();
  pos_.line += static_cast<std::uint64_t>(std::count(span.begin(), span.end(), '\n'));
  consumed_ = next;
  item.next = pos_;
}

// Finds the end of the physical line containing `from`: *line_end excludes the line end,
// *next is the first byte after it.
CsvReader::Scan CsvReader::SkipLine(std::size_t from, std::size_t* line_end, std::size_t* next) {
  const std::size_t nl = buffer_.find('\n', from);
  if (nl == std::string::npos) {
    if (!at_eof_) return Scan::kNeedMore;
    *line_end = buffer_.size();
    *next = buffer_.size();
    return Scan::kItem;
  }
  *line_end = (nl > consumed_ && buffer_[nl - 1] == '\r') ? nl - 1 : nl;
  *next = nl + 1;
  return Scan::kItem;
}

CsvReader::Scan CsvReader::ScanRecord(CsvItem& item) {
  const std::string_view buf(buffer_);
  const std::size_t start = consumed_;
  const char delim = options_.delimiter;
  const char quote = options_.quote;

  auto fail = [&](std::size_t error_at, std::string reason, bool too_large = false) -> Scan {
    std::size_t line_end = 0, next = 0;
    if (SkipLine(error_at, &line_end, &next) == Scan::kNeedMore) return Scan::kNeedMore;
    item = CsvItem{};
    item.kind = CsvItemKind::kError;
    item.reason = std::move(reason);
    item.too_large = too_large;
    item.raw.assign(buf.substr(start, line_end - start));
    Consume(next, item);
    return Scan::kItem;
  };

  // An empty (or blank) line.
  {
    std::size_t j = start;
    while (j < buf.size() && (buf[j] == ' ' || buf[j] == '\t')) ++j;
    if (j >= buf.size()) {
      if (!at_eof_) return Scan::kNeedMore;
    } else if (buf[j] == '\r' && j + 1 >= buf.size() && !at_eof_) {
      return Scan::kNeedMore;
    }
    const bool lf = j < buf.size() && buf[j] == '\n';
    const bool crlf = j + 1 < buf.size() && buf[j] == '\r' && buf[j + 1] == '\n';
    if (lf || crlf || j >= buf.size()) {
      item = CsvItem{};
      item.kind = CsvItemKind::kEmptyLine;
      item.raw.assign(buf.substr(start, j - start));
      Consume(j >= buf.size() ? j : j + (lf ? 1 : 2), item);
      return Scan::kItem;
    }
  }

  enum class St { kFieldStart, kUnquoted, kQuoted, kAfterQuote };
  St st = St::kFieldStart;
  std::vector<std::string> cells;
  std::string cell;
  std::size_t i = start;
  std::size_t record_end = 0, next = 0;
  for (;;) {
    if (i - start > options_.max_record_bytes) {
      return fail(start,
                  "record longer than " + std::to_string(options_.max_record_bytes) +
                      " bytes (max_record_bytes; or an unterminated quote)",
                  /*too_large=*/true);
    }
    if (i >= buf.size()) {
      if (!at_eof_) return Scan::kNeedMore;
      if (st == St::kQuoted) return fail(start, "unterminated quoted field at end of file");
      record_end = next = i;  // last line without a line end
      break;
    }
    const char c = buf[i];
    if (st == St::kFieldStart) {
      if (c == quote) {
        st = St::kQuoted;
        ++i;
        continue;
      }
      st = St::kUnquoted;
    }
    if (st == St::kUnquoted) {
      std::size_t j = i;
      while (j < buf.size() && buf[j] != delim && buf[j] != '\n' && buf[j] != '\r' && buf[j] != quote) ++j;
      cell.append(buf.substr(i, j - i));
      i = j;
      if (i >= buf.size()) continue;
      const char d = buf[i];
      if (d == delim) {
        cells.push_back(std::move(cell));
        cell.clear();
        st = St::kFieldStart;
        ++i;
      } else if (d == '\n') {
        record_end = i;
        next = i + 1;
        break;
      } else if (d == '\r') {
        if (i + 1 >= buf.size()) {
          if (!at_eof_) return Scan::kNeedMore;
          record_end = i;
          next = i + 1;
          break;
        }
        if (buf[i + 1] == '\n') {
          record_end = i;
          next = i + 2;
          break;
        }
        cell.push_back('\r');  // a lone CR is data
        ++i;
      } else {
        return fail(i, "stray quote in unquoted field " + std::to_string(cells.size() + 1));
      }
    } else if (st == St::kQuoted) {
      const std::size_t q = buf.find(quote, i);
      if (q == std::string_view::npos) {
        cell.append(buf.substr(i));
        i = buf.size();
        continue;
      }
      cell.append(buf.substr(i, q - i));
      if (q + 1 >= buf.size() && !at_eof_) return Scan::kNeedMore;
      if (q + 1 < buf.size() && buf[q + 1] == quote) {
        cell.push_back(quote);
        i = q + 2;
      } else {
        st = St::kAfterQuote;
        i = q + 1;
      }
    } else {  // kAfterQuote
      if (c == delim) {
        cells.push_back(std::move(cell));
        cell.clear();
        st = St::kFieldStart;
        ++i;
      } else if (c == '\n') {
        record_end = i;
        next = i + 1;
        break;
      } else if (c == '\r' && i + 1 >= buf.size() && !at_eof_) {
        return Scan::kNeedMore;
      } else if (c == '\r' && (i + 1 >= buf.size() || buf[i + 1] == '\n')) {
        record_end = i;
        next = i + 1 < buf.size() ? i + 2 : i + 1;
        break;
      } else {
        return fail(i, "unexpected character after closing quote in field " +
                           std::to_string(cells.size() + 1));
      }
    }
  }
  cells.push_back(std::move(cell));
  item = CsvItem{};
  item.raw.assign(buf.substr(start, record_end - start));
  if (expected_columns_ != 0 && cells.size() != expected_columns_) {
    item.kind = CsvItemKind::kError;
    item.reason = "expected " + std::to_string(expected_columns_) + " columns, found " +
                  std::to_string(cells.size());
  } else {
    item.kind = CsvItemKind::kRecord;
    item.cells = std::move(cells);
  }
  Consume(next, item);
  return Scan::kItem;
}

std::optional<CsvItem> CsvReader::Next() {
  if (!bom_checked_) {
    if (buffer_.size() - consumed_ < 3 && !at_eof_) return std::nullopt;
    bom_checked_ = true;
    if (std::string_view(buffer_).substr(consumed_, 3) == "\xEF\xBB\xBF") {
      consumed_ += 3;
      pos_.offset += 3;
    }
  }
  if (consumed_ >= buffer_.size()) return std::nullopt;
  CsvItem item;
  if (ScanRecord(item) == Scan::kNeedMore) return std::nullopt;
  return item;
}

std::uint64_t StableHash64(std::string_view bytes, std::uint64_t seed) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ seed;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  // splitmix64 finalizer: spreads FNV's weak low bits over the whole word.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

FileIdentity IdentifyFile(const std::string& path, std::size_t head_bytes) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw InfraError(path + ": cannot stat source file", Retry::kNo);
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InfraError(path + ": cannot open source file", Retry::kNo);
  std::string head(head_bytes, '\0');
  in.read(head.data(), static_cast<std::streamsize>(head.size()));
  head.resize(static_cast<std::size_t>(in.gcount()));
  FileIdentity id;
  id.device = static_cast<std::uint64_t>(st.st_dev);
  id.inode = static_cast<std::uint64_t>(st.st_ino);
  id.head_hash = StableHash64(head);
  id.head_bytes = head.size();
  return id;
}

std::string ToString(const FileIdentity& id) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "dev=%llu,ino=%llu,head=%016llx/%llu",
                static_cast<unsigned long long>(id.device), static_cast<unsigned long long>(id.inode),
                static_cast<unsigned long long>(id.head_hash),
                static_cast<unsigned long long>(id.head_bytes));
  return buf;
}

CsvFileReader::CsvFileReader(std::string path, CsvOptions options, CsvPosition start)
    : path_(std::move(path)), in_(path_, std::ios::binary), reader_(options, start) {
  if (!in_) throw InfraError(path_ + ": cannot open source file", Retry::kNo);
  in_.seekg(static_cast<std::streamoff>(start.offset));
  if (!in_) throw InfraError(path_ + ": cannot seek to offset " + std::to_string(start.offset), Retry::kNo);
}

std::optional<CsvItem> CsvFileReader::Next() {
  for (;;) {
    if (auto item = reader_.Next()) return item;
    if (reader_.Done()) return std::nullopt;
    char chunk[64 * 1024];
    in_.read(chunk, sizeof chunk);
    const auto n = static_cast<std::size_t>(in_.gcount());
    if (n > 0) reader_.Append(std::string_view(chunk, n));
    if (n < sizeof chunk) {
      if (in_.bad()) throw InfraError(path_ + ": read error", Retry::kYes);
      reader_.Finish();
    }
  }
}

HeaderMapping HeaderMapping::Build(const std::vector<std::string>& header,
                                   const std::vector<std::string>& fields,
                                   const std::map<std::string, std::string>& renames,
                                   const std::vector<std::string>& ignore,
                                   const std::string& origin) {
  std::map<std::string, std::string> rename_lower;
  for (const auto& [col, field] : renames) rename_lower[ToLower(Trim(col))] = field;
  std::vector<std::string> ignore_lower;
  for (const auto& c : ignore) ignore_lower.push_back(ToLower(Trim(c)));

  HeaderMapping m;
  m.fields_ = fields;
  m.columns_ = header.size();
  m.column_of_field_.assign(fields.size(), static_cast<std::size_t>(-1));
  std::vector<std::string> unknown, duplicate;
  for (std::size_t c = 0; c < header.size(); ++c) {
    const std::string col = ToLower(Trim(header[c]));
    if (std::find(ignore_lower.begin(), ignore_lower.end(), col) != ignore_lower.end()) continue;
    std::string target = col;
    if (auto it = rename_lower.find(col); it != rename_lower.end()) target = ToLower(it->second);
    bool found = false;
    for (std::size_t f = 0; f < fields.size(); ++f) {
      if (ToLower(fields[f]) == target) {
        if (m.column_of_field_[f] != static_cast<std::size_t>(-1)) duplicate.push_back(header[c]);
        m.column_of_field_[f] = c;
        found = true;
      }
    }
    if (!found) unknown.push_back(header[c]);
  }
  std::vector<std::string> missing;
  for (std::size_t f = 0; f < fields.size(); ++f) {
    if (m.column_of_field_[f] == static_cast<std::size_t>(-1)) missing.push_back(fields[f]);
  }
  if (!unknown.empty() || !missing.empty() || !duplicate.empty()) {
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s;
    };
    std::string msg = origin + ": header does not match the schema:";
    if (!unknown.empty()) msg += " unknown columns [" + join(unknown) + "] (add a rename or ignore them);";
    if (!missing.empty()) msg += " missing fields [" + join(missing) + "];";
    if (!duplicate.empty()) msg += " columns mapped twice [" + join(duplicate) + "];";
    msg.pop_back();
    throw ConfigError(msg);
  }
  return m;
}

Row HeaderMapping::ToRow(const std::vector<std::string>& cells, const std::vector<std::string>& null_values) const {
  SLUICE_ASSERT(cells.size() == columns_, "HeaderMapping::ToRow: column count checked by the reader");
  Row row;
  row.Reserve(fields_.size() + 1);  // +1: room for a derived id
  for (std::size_t f = 0; f < fields_.size(); ++f) {
    const std::string& cell = cells[column_of_field_[f]];
    const std::string_view t = Trim(cell);
    if (t.empty() || std::find(null_values.begin(), null_values.end(), t) != null_values.end()) {
      row.Append(fields_[f], Null{});
    } else {
      row.Append(fields_[f], cell);
    }
  }
  return row;
}

std::string ContentKey(const Row& row, const std::vector<std::string>& fields, std::string_view prefix) {
  std::string canon;
  for (const auto& f : fields) {
    canon += f;
    const Value& v = row.Get(f);
    if (IsNull(v)) {
      canon += "\x1e";  // null differs from ""
    } else {
      canon += '=';
      if (auto* s = std::get_if<std::string>(&v)) canon.append(Trim(*s));
      else canon += Describe(v);
    }
    canon += '\x1f';
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(StableHash64(canon)));
  return std::string(prefix) + hex;
}

}  // namespace sluice::stages
