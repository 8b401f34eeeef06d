#pragma once
// Avro flat rows as PostgreSQL input text: the third column of the mapping table in README.md.
// A decoded record (avro::FlatRow) becomes one RowBatch row whose cells the columns created by
// TableFromAvro accept: dates as YYYY-MM-DD, timestamps in ISO 8601 (UTC offset for
// timestamp-*), decimals as scaled digits, bytes as \x hex, durations as intervals.
#include <optional>
#include <string>
#include <vector>

#include "sluice/avro/flat_row.hpp"
#include "sluice/pg/row_batch.hpp"

namespace sluice::pg {

// The layout's field names, in order: the columns of a RowBatch for AppendFlatRow.
std::vector<std::string> FlatColumns(const avro::FlatLayout& layout);

// Cell i of row as PostgreSQL input text; nullopt for NULL.
std::optional<std::string> CellText(const avro::FlatRow& row, std::size_t i);

// Appends cell i of row to the batch's open row (CellText, without allocating for strings,
// integers and finite doubles).
void AppendFlatCell(RowBatch& batch, const avro::FlatRow& row, std::size_t i);

// Appends row to batch; batch.columns() must be FlatColumns(*row.layout()).
void AppendFlatRow(RowBatch& batch, const avro::FlatRow& row);

// Appends row to a batch with other columns: column c takes field field_of_column[c] of row,
// or NULL when that is nullopt (a column the row's writer schema lacks).
void AppendFlatRow(RowBatch& batch, const avro::FlatRow& row,
                   const std::vector<std::optional<std::size_t>>& field_of_column);

}  // namespace sluice::pg
