#include "sluice/pg/row_batch.hpp"

#include "sluice/core/error.hpp"

namespace sluice::pg {

RowBatch::RowBatch(std::vector<std::string> columns) : columns_(std::move(columns)) {
  SLUICE_ASSERT(!columns_.empty(), "a row batch needs at least one column");
}

void RowBatch::StartCell() {
  SLUICE_ASSERT(cells_in_row_ < columns_.size(), "more cells than columns in a row");
  if (cells_in_row_ > 0) text_ += '\t';
  ++cells_in_row_;
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
}

void RowBatch::Clear() {
  text_.clear();
  row_end_.clear();
  cells_in_row_ = 0;
}

std::string_view RowBatch::CopyText(std::size_t first, std::size_t last) const {
  SLUICE_ASSERT(first <= last && last <= row_end_.size(), "row range out of the batch");
  const std::size_t begin = first == 0 ? 0 : row_end_[first - 1];
  const std::size_t end = last == 0 ? 0 : row_end_[last - 1];
  return std::string_view(text_).substr(begin, end - begin);
}

}  // namespace sluice::pg
