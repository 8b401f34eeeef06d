#include "sluice/pg/row_batch.hpp"

#include <algorithm>
#include <functional>
#include <utility>

#include "sluice/core/error.hpp"

namespace sluice::pg {

RowBatch::RowBatch(std::vector<std::string> columns) : columns_(std::move(columns)) {
  SLUICE_ASSERT(!columns_.empty(), "a row batch needs at least one column");
}

namespace {

// Per cell, then combined: ("1", "2") and ("12", "") hash apart.
std::uint64_t CombineKeyCell(std::uint64_t row_hash, std::string_view cell) {
  return row_hash * 1'000'003 ^ std::hash<std::string_view>{}(cell);
}

}  // namespace

std::vector<bool> RowBatch::IsKey(const std::vector<std::string>& key_columns) const {
  std::vector<bool> is_key(columns_.size(), false);
  for (const std::string& key : key_columns) {
    const auto it = std::find(columns_.begin(), columns_.end(), key);
    SLUICE_ASSERT(it != columns_.end(), "a key is not a column");
    is_key[static_cast<std::size_t>(it - columns_.begin())] = true;
  }
  return is_key;
}

void RowBatch::HashKeys(const std::vector<std::string>& key_columns) {
  SLUICE_ASSERT(empty() && cells_in_row_ == 0, "keys are hashed from the first row on");
  is_key_ = IsKey(key_columns);
  hashed_keys_ = key_columns;
}

std::vector<std::uint64_t> RowBatch::KeyHashesFor(const std::vector<std::string>& key_columns) const {
  if (!is_key_.empty() && hashed_keys_ == key_columns) return key_hashes_;
  const std::vector<bool> is_key = IsKey(key_columns);
  std::vector<std::uint64_t> hashes;
  hashes.reserve(size());
  std::size_t cell = 0;
  std::size_t begin = 0;
  std::uint64_t h = 0;
  const std::string_view text = text_;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\t' && text[i] != '\n') continue;
    if (is_key[cell]) h = CombineKeyCell(h, text.substr(begin, i - begin));
    begin = i + 1;
    if (text[i] == '\n') {
      hashes.push_back(std::exchange(h, 0));
      cell = 0;
    } else {
      ++cell;
    }
  }
  return hashes;
}

void RowBatch::StartCell() {
  SLUICE_ASSERT(cells_in_row_ < columns_.size(), "more cells than columns in a row");
  if (cells_in_row_ > 0) {
    EndCell();
    text_ += '\t';
  }
  ++cells_in_row_;
  cell_start_ = text_.size();
}

void RowBatch::EndCell() {
  if (is_key_.empty() || !is_key_[cells_in_row_ - 1]) return;
  row_hash_ = CombineKeyCell(row_hash_, std::string_view(text_).substr(cell_start_));
}

void RowBatch::Add(std::string_view value) {
  StartCell();
  // COPY text format: backslash, newline, carriage return and tab must be escaped.
  std::size_t run = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    char escaped = 0;
    switch (value[i]) {
      case '\\':
        escaped = '\\';
        break;
      case '\n':
        escaped = 'n';
        break;
      case '\r':
        escaped = 'r';
        break;
      case '\t':
        escaped = 't';
        break;
      default:
        continue;
    }
    text_.append(value.data() + run, i - run);
    text_ += '\\';
    text_ += escaped;
    run = i + 1;
  }
  text_.append(value.data() + run, value.size() - run);
}

void RowBatch::AddNull() {
  StartCell();
  text_ += "\\N";
}

void RowBatch::EndRow() {
  SLUICE_ASSERT(cells_in_row_ == columns_.size(), "fewer cells than columns in a row");
  EndCell();
  if (!is_key_.empty()) key_hashes_.push_back(std::exchange(row_hash_, 0));
  text_ += '\n';
  row_end_.push_back(text_.size());
  cells_in_row_ = 0;
}

void RowBatch::AddRow(std::initializer_list<std::optional<std::string_view>> cells) {
  SLUICE_ASSERT(cells.size() == columns_.size(), "row width differs from the column count");
  for (const auto& cell : cells) {
    if (cell) {
      Add(*cell);
    } else {
      AddNull();
    }
  }
  EndRow();
}

void RowBatch::AddRow(const std::vector<std::optional<std::string>>& cells) {
  SLUICE_ASSERT(cells.size() == columns_.size(), "row width differs from the column count");
  for (const auto& cell : cells) {
    if (cell) {
      Add(*cell);
    } else {
      AddNull();
    }
  }
  EndRow();
}

void RowBatch::AppendRows(const RowBatch& from, std::size_t first, std::size_t last) {
  SLUICE_ASSERT(from.columns_ == columns_, "rows of a batch with other columns");
  SLUICE_ASSERT(cells_in_row_ == 0, "a row is open");
  const std::size_t base = text_.size() - (first == 0 ? 0 : from.row_end_[first - 1]);
  text_.append(from.CopyText(first, last));
  for (std::size_t r = first; r < last; ++r) row_end_.push_back(base + from.row_end_[r]);
  if (!is_key_.empty()) {
    SLUICE_ASSERT(from.hashed_keys_ == hashed_keys_, "rows of a batch hashing other keys");
    key_hashes_.insert(key_hashes_.end(), from.key_hashes_.begin() + static_cast<std::ptrdiff_t>(first),
                       from.key_hashes_.begin() + static_cast<std::ptrdiff_t>(last));
  }
}

void RowBatch::Clear() {
  text_.clear();
  row_end_.clear();
  cells_in_row_ = 0;
  key_hashes_.clear();
  row_hash_ = 0;
}

std::string_view RowBatch::CopyText(std::size_t first, std::size_t last) const {
  SLUICE_ASSERT(first <= last && last <= row_end_.size(), "row range out of the batch");
  const std::size_t begin = first == 0 ? 0 : row_end_[first - 1];
  const std::size_t end = last == 0 ? 0 : row_end_[last - 1];
  return std::string_view(text_).substr(begin, end - begin);
}

}  // namespace sluice::pg
