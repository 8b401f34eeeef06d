#pragma once
// Fast path for the stages: a flat record decoded straight into a row of nullable scalar
// cells, with no per-field heap allocation once the row's buffers have grown.
//
// Eligible schemas: a record whose fields are primitives (null, boolean, int, long, float,
// double, bytes, string), fixed, enum, logical types on those, or two-branch unions of
// "null" and one of them. Cells hold the widened value: int/long -> kLong, float/double ->
// kDouble, bytes/string/fixed -> kString (raw bytes), enum -> kString (the symbol).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/schema.hpp"

namespace sluice::avro {

enum class CellKind : std::uint8_t { kNull, kBool, kLong, kDouble, kString };

// How one record field maps to a cell.
struct FlatField {
  std::string name;
  const Node* node = nullptr;      // the non-null type (the union branch for nullable fields)
  Type type = Type::kNull;         // node->type()
  LogicalType logical = LogicalType::kNone;
  CellKind kind = CellKind::kNull;  // the kind a non-null value has
  bool nullable = false;           // a ["null", T] or [T, "null"] union
  std::uint8_t null_branch = 0;    // union index of "null" when nullable
};

// The compiled field layout of a flat-eligible record schema. Immutable, shareable.
class FlatLayout {
 public:
  // Throws core::DataError naming the first ineligible field.
  static std::shared_ptr<const FlatLayout> Compile(const Schema& schema);
  // Null when eligible; otherwise the reason.
  static std::optional<std::string> WhyNotFlat(const Schema& schema);

  const Schema& schema() const { return schema_; }
  const std::vector<FlatField>& fields() const { return fields_; }
  std::size_t size() const { return fields_.size(); }
  std::optional<std::size_t> FieldIndex(std::string_view name) const;

 private:
  Schema schema_;
  std::vector<FlatField> fields_;
};

// One scalar cell. A string cell refers to bytes in its row's arena.
struct FlatCell {
  CellKind kind = CellKind::kNull;
  bool b = false;
  std::int64_t i = 0;
  double d = 0;
  std::uint32_t str_offset = 0;
  std::uint32_t str_size = 0;
};

// A decoded (or to-be-encoded) flat record. Reuse one row per thread: Reset/decode keep
// the capacity of the cell vector and the string arena. Not thread-safe.
class FlatRow {
 public:
  FlatRow() = default;
  explicit FlatRow(std::shared_ptr<const FlatLayout> layout) { Reset(std::move(layout)); }

  // Binds the row to a layout and sets every cell to null.
  void Reset(std::shared_ptr<const FlatLayout> layout);
  // Sets every cell to null, keeping the layout.
  void Clear();
  const FlatLayout* layout() const { return layout_.get(); }
  const std::shared_ptr<const FlatLayout>& shared_layout() const { return layout_; }

  std::size_t size() const { return cells_.size(); }
  const FlatCell& cell(std::size_t i) const { return cells_[i]; }
  CellKind kind(std::size_t i) const { return cells_[i].kind; }
  bool is_null(std::size_t i) const { return cells_[i].kind == CellKind::kNull; }
  bool GetBool(std::size_t i) const { return cells_[i].b; }
  std::int64_t GetLong(std::size_t i) const { return cells_[i].i; }
  double GetDouble(std::size_t i) const { return cells_[i].d; }
  std::string_view GetString(std::size_t i) const {
    return std::string_view(arena_).substr(cells_[i].str_offset, cells_[i].str_size);
  }

  void SetNull(std::size_t i) { cells_[i].kind = CellKind::kNull; }
  void SetBool(std::size_t i, bool v) {
    cells_[i].kind = CellKind::kBool;
    cells_[i].b = v;
  }
  void SetLong(std::size_t i, std::int64_t v) {
    cells_[i].kind = CellKind::kLong;
    cells_[i].i = v;
  }
  void SetDouble(std::size_t i, double v) {
    cells_[i].kind = CellKind::kDouble;
    cells_[i].d = v;
  }
  // Copies v into the row's arena (earlier strings of a replaced cell stay until Clear).
  void SetString(std::size_t i, std::string_view v);

 private:
  // Decodes into the layout the row is bound to (the DecodeFlat overloads bind it first).
  void DecodeBound(std::string_view bytes, const DecodeLimits& limits);
  friend void DecodeFlat(const std::shared_ptr<const FlatLayout>&, std::string_view, FlatRow&,
                         const DecodeLimits&);
  friend void DecodeFlat(const Schema&, std::string_view, FlatRow&, const DecodeLimits&);
  std::shared_ptr<const FlatLayout> layout_;
  std::vector<FlatCell> cells_;
  std::string arena_;
};

// Decodes exactly `bytes` (a record of the layout's schema) into `row`, binding the row to
// that shared layout first if it is bound to another (no copy of the layout). Throws
// DecodeError on malformed input.
void DecodeFlat(const std::shared_ptr<const FlatLayout>& layout, std::string_view bytes,
                FlatRow& row, const DecodeLimits& limits = {});
// Convenience: reuses the row's layout when it was compiled for this same schema,
// otherwise compiles one (throws core::DataError if the schema is not flat-eligible).
void DecodeFlat(const Schema& schema, std::string_view bytes, FlatRow& row,
                const DecodeLimits& limits = {});
// Appends the binary encoding of `row` to `out`. Throws EncodeError when a cell does not
// fit its field (null in a non-nullable field, wrong kind, int out of range, unknown
// enum symbol, fixed of the wrong size).
void EncodeFlat(const FlatRow& row, std::string& out);

}  // namespace sluice::avro
