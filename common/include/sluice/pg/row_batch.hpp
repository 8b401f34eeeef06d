#pragma once
// A batch of flat rows bound for one table: column names plus, per row, one text value (in
// PostgreSQL input syntax) or NULL per column. Rows are stored already escaped for COPY text
// format in one buffer, so writing a batch costs no per-cell allocation and any contiguous
// range of rows can be sent again (the writer's bisection does that).
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::pg {

// Built by one thread, then handed to BatchWriter::Write. Reusable: Clear() keeps capacity.
class RowBatch {
 public:
  explicit RowBatch(std::vector<std::string> columns);

  const std::vector<std::string>& columns() const noexcept { return columns_; }
  std::size_t size() const noexcept { return row_end_.size(); }
  bool empty() const noexcept { return row_end_.empty(); }

  // Cell by cell: exactly columns().size() Add/AddNull calls, then EndRow(). A value must be
  // valid in the server encoding; bytes that are not come back as a rejected row (22021).
  void Add(std::string_view value);
  void AddNull();
  void EndRow();

  // A whole row; nullopt is NULL.
  void AddRow(std::initializer_list<std::optional<std::string_view>> cells);
  void AddRow(const std::vector<std::optional<std::string>>& cells);

  // From now on, hash each row's key cells (their COPY text) as the row is added, so that
  // BatchWriter can tell whether the keys are distinct without reading the batch again (the
  // caller pays while building, e.g. on a thread that is otherwise waiting). Call on an empty
  // batch; every name must be a column.
  void HashKeys(const std::vector<std::string>& key_columns);
  // One hash per row of the key cells' text (equal text, equal hash): those kept since
  // HashKeys(key_columns), else computed now from the batch's text.
  std::vector<std::uint64_t> KeyHashesFor(const std::vector<std::string>& key_columns) const;

  // Rows [first, last) of another batch with the same columns, as they are.
  void AppendRows(const RowBatch& from, std::size_t first, std::size_t last);

  void Clear();

  // COPY text format lines of rows [first, last), each ending in '\n'.
  std::string_view CopyText(std::size_t first, std::size_t last) const;

 private:
  void StartCell();
  void EndCell();

  std::vector<std::string> columns_;
  std::string text_;                   // escaped COPY lines of all finished rows
  std::vector<std::size_t> row_end_;   // end offset of each row's line in text_
  std::size_t cells_in_row_ = 0;
  std::size_t cell_start_ = 0;           // offset in text_ of the open cell's text
  std::vector<std::string> hashed_keys_;
  std::vector<bool> IsKey(const std::vector<std::string>& key_columns) const;

  std::vector<bool> is_key_;             // per column, when hashing keys
  std::vector<std::uint64_t> key_hashes_;
  std::uint64_t row_hash_ = 0;
};

}  // namespace sluice::pg
