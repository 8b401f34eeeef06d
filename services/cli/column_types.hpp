#pragma once
// Column type inference for `sluice pipeline new`: from a sample of a CSV file's cells, the
// type each column most likely has (int, long, double, boolean, date, timestamp, else string),
// whether it is nullable, and what a cleaner rule needs to convert it (date formats, the
// boolean spellings coerce does not accept itself). Pure functions: no I/O, no state.
#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::cli {

enum class ColumnType { kInt, kLong, kDouble, kBoolean, kDate, kTimestamp, kString };

// "int", "long", "double", "boolean", "date", "timestamp", "string".
std::string_view ColumnTypeName(ColumnType type);

struct InferOptions {
  // A string column with at most this many distinct values, each seen at least
  // min_repeats times on average, gets its values listed (an `allowed` rule).
  std::size_t max_categories = 10;
  double min_repeats = 2.0;
};

// What the sample says about one column.
struct ColumnGuess {
  std::string header;           // as in the file
  std::string field;            // the Avro field name (FieldNameOf(header))
  ColumnType type = ColumnType::kString;
  bool nullable = false;        // an empty cell was seen (or every cell was empty)
  std::size_t filled = 0;       // non-empty cells in the sample
  std::size_t empty = 0;        // empty cells in the sample
  std::string format;           // kDate / kTimestamp: the first of `formats`
  // kDate: the one strptime format every value parses with; kTimestamp: the formats the values
  // need (each value parses with one of them), in the order they are to be tried.
  std::vector<std::string> formats;
  // kBoolean: spellings `coerce: to: bool` refuses (y, N, T, ...) -> "yes"/"no"/"true"/"false".
  std::map<std::string, std::string> bool_map;
  // kString with few distinct values (see InferOptions): the sorted distinct values. Empty
  // otherwise.
  std::vector<std::string> categories;
  std::size_t distinct = 0;     // distinct non-empty values in the sample
};

// An Avro field name for a CSV header: lower case, every run of characters other than
// [a-z0-9] becomes one '_', no leading or trailing '_', a leading digit gets a '_' prefix;
// "" becomes "column".
std::string FieldNameOf(std::string_view header);

// Infers one column from its cells. Numbers written with a leading zero ("02134") stay text. A cell is empty only when it is "" (the producer's
// default null value); values are judged after trimming blanks, as coerce does.
ColumnGuess InferColumn(std::string_view header, const std::vector<std::string>& cells,
                        const InferOptions& options = {});

// Every column of a sample: rows[i][c] is row i's cell of column c (short rows count as
// empty cells). Field names are made unique by suffixing _2, _3, ...
std::vector<ColumnGuess> InferColumns(const std::vector<std::string>& header,
                                      const std::vector<std::vector<std::string>>& rows,
                                      const InferOptions& options = {});

// Date formats tried in order (the first that parses every value wins), then timestamps.
const std::vector<std::string>& DateFormats();
const std::vector<std::string>& TimestampFormats();

}  // namespace sluice::cli
