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

// Appends row to batch; batch.columns() must be FlatColumns(*row.layout()).
void AppendFlatRow(RowBatch& batch, const avro::FlatRow& row);

}  // namespace sluice::pg
