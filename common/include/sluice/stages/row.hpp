#pragma once
// Rows as the pure stages see them: named, nullable scalar cells.
//
// The cell kinds mirror sluice::avro::CellKind (null, bool, long, double, string) so the
// wiring converts a Row to and from an avro::FlatRow cell by cell. An Avro `date` is a long
// holding days since 1970-01-01.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sluice::stages {

struct Null {
  friend bool operator==(const Null&, const Null&) = default;
};

// One cell. Order of alternatives = avro::CellKind order.
using Value = std::variant<Null, bool, std::int64_t, double, std::string>;

inline bool IsNull(const Value& v) { return std::holds_alternative<Null>(v); }
// A readable rendering for reasons and logs: null -> "null", strings quoted.
std::string Describe(const Value& v);

// An ordered list of named cells. Lookups are linear: rows have tens of fields, and a
// vector beats a hash map at that size. Value type, not thread-safe for mutation.
class Row {
 public:
  Row() = default;
  Row(std::initializer_list<std::pair<std::string, Value>> cells);

  // nullptr when absent.
  const Value* Find(std::string_view name) const;
  Value* Find(std::string_view name);
  // Null when absent.
  const Value& Get(std::string_view name) const;
  // Replaces the value, or appends the field.
  void Set(std::string_view name, Value value);
  bool Erase(std::string_view name);
  // Appends without looking for an existing field (the caller knows it is new).
  void Append(std::string name, Value value) { cells_.emplace_back(std::move(name), std::move(value)); }
  void Reserve(std::size_t n) { cells_.reserve(n); }

  std::size_t size() const { return cells_.size(); }
  const std::vector<std::pair<std::string, Value>>& cells() const { return cells_; }
  // The position of a field's cell, npos when absent; and the cell at a position.
  static constexpr std::size_t npos = static_cast<std::size_t>(-1);
  std::size_t IndexOf(std::string_view name) const;
  std::pair<std::string, Value>& cell(std::size_t i) { return cells_[i]; }

  friend bool operator==(const Row&, const Row&) = default;

 private:
  std::vector<std::pair<std::string, Value>> cells_;
};

// The Avro types a stage produces for a field (after unwrapping ["null", T]).
enum class FieldType { kString, kBoolean, kInt, kLong, kFloat, kDouble, kDate };

std::string_view FieldTypeName(FieldType t);
// "string", "int", "long", "double", "float", "boolean", "date"; throws core::ConfigError.
FieldType ParseFieldType(std::string_view name);

// One field of an output record.
struct FieldSpec {
  std::string name;
  FieldType type = FieldType::kString;
  bool nullable = false;
  std::optional<Value> default_value;  // from the schema's "default", converted
};

// The flat field list of a record schema: what a stage must produce. Immutable.
struct RecordSpec {
  std::string name;
  std::vector<FieldSpec> fields;

  const FieldSpec* Find(std::string_view field) const;
};

// Reads the fields of a flat record .avsc (primitives, ["null", T] unions, the `date`
// logical type). Throws core::ConfigError naming `origin` for anything else.
RecordSpec RecordSpecFromAvsc(const nlohmann::json& avsc, const std::string& origin);
RecordSpec LoadRecordSpec(const std::string& avsc_path);
// The JSON of an .avsc file as plain Avro: every reader of a schema file goes through here
// (LoadRecordSpec, PipelineConfig::LoadSchema, hence the registry registrations). A
// top-level "sluice.extends": "<file>" (relative to this file; chains allowed, cycles
// refused) makes the record's fields the extended record's fields followed by its own; the
// attribute is removed. Throws core::ConfigError naming the file.
nlohmann::json LoadAvsc(const std::string& avsc_path);
inline constexpr const char* kExtendsAttribute = "sluice.extends";

// Strict scalar parsing: the whole text must be the number (no spaces, no junk).
std::optional<std::int64_t> ParseInt64(std::string_view text);
std::optional<double> ParseDouble(std::string_view text);
// `x` rounded to `decimals` (0-15) digits after the point, half away from zero, judged on its
// shortest decimal form: RoundDecimal(1.005, 2) is 1.01 (x * 100 would be 100.49999...).
double RoundDecimal(double x, int decimals);

// Converts `v` to the field's type. Strings are parsed strictly (dates as YYYY-MM-DD);
// integral doubles become ints; int range is checked. nullopt + *why on failure.
std::optional<Value> ConvertTo(const Value& v, FieldType type, std::string* why);

// Builds the row of `spec` from `work`: each field converted to its type, absent or null
// fields null when nullable, else the schema default, else a failure. nullopt + *why
// ("field: problem") on failure.
std::optional<Row> TypeInto(const Row& work, const RecordSpec& spec, std::string* why);
// TypeInto without copies, in two steps. TypeInPlace converts the cells of `work` to the
// types of `spec` where they are (appending absent fields as TypeInto fills them) and puts
// the position of each field's cell in *slots; false + *why on the first failure (work is
// then partly converted). TakeTyped moves those cells, names included, into a row in the
// spec's order, leaving them empty in `work`.
bool TypeInPlace(Row& work, const RecordSpec& spec, std::vector<std::size_t>* slots, std::string* why);
Row TakeTyped(Row& work, const std::vector<std::size_t>& slots);

// Days since 1970-01-01 for a proleptic Gregorian date, and back.
std::int64_t DaysFromCivil(int year, unsigned month, unsigned day);
void CivilFromDays(std::int64_t days, int* year, unsigned* month, unsigned* day);
std::string FormatDate(std::int64_t days);  // YYYY-MM-DD
// Parses `text` with a strftime-like format limited to %Y %m %d %b (month abbreviation,
// case-insensitive) %y (two digits, 1970..2069) and literal characters. Validates the day
// against the month. nullopt when it does not match.
std::optional<std::int64_t> ParseDate(std::string_view text, std::string_view format);
// Same, also accepting %H %M %S; returns milliseconds since the epoch (UTC).
std::optional<std::int64_t> ParseDateTime(std::string_view text, std::string_view format);

std::string_view Trim(std::string_view s);
std::string ToLower(std::string_view s);

// A cell as text (null -> ""), and as a number (numeric text parsed; nullopt otherwise).
std::string AsText(const Value& v);
std::optional<double> AsNumber(const Value& v);

// Row <-> JSON object (null, bool, integer, number, string), for case files and logs.
Row RowFromJson(const nlohmann::json& j);
nlohmann::json RowToJson(const Row& row);

}  // namespace sluice::stages
