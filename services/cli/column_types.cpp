#include "column_types.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <set>

#include "sluice/stages/row.hpp"

namespace sluice::cli {

namespace {

using stages::Trim;

std::string Lower(std::string_view s) { return stages::ToLower(s); }

// Spellings coerce accepts as they are (any letter case), and those it needs mapped.
bool IsCoerceBool(const std::string& lower) {
  return lower == "true" || lower == "false" || lower == "yes" || lower == "no" || lower == "0" || lower == "1";
}
const char* MappedBool(const std::string& lower) {
  if (lower == "y") return "yes";
  if (lower == "n") return "no";
  if (lower == "t") return "true";
  if (lower == "f") return "false";
  return nullptr;
}

// The first format of `formats` that parses every value with `parse`, or "".
template <typename Parse>
std::string CommonFormat(const std::vector<std::string_view>& values, const std::vector<std::string>& formats,
                         Parse parse) {
  for (const auto& f : formats) {
    if (std::all_of(values.begin(), values.end(), [&](std::string_view v) { return parse(v, f).has_value(); })) {
      return f;
    }
  }
  return "";
}

// "007", "-01.5": digits that keep their leading zero are codes (zip codes, account numbers),
// which a number would lose.
bool HasLeadingZero(std::string_view v) {
  if (!v.empty() && (v.front() == '-' || v.front() == '+')) v.remove_prefix(1);
  return v.size() > 1 && v[0] == '0' && std::isdigit(static_cast<unsigned char>(v[1]));
}

}  // namespace

std::string_view ColumnTypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kInt: return "int";
    case ColumnType::kLong: return "long";
    case ColumnType::kDouble: return "double";
    case ColumnType::kBoolean: return "boolean";
    case ColumnType::kDate: return "date";
    case ColumnType::kTimestamp: return "timestamp";
    case ColumnType::kString: return "string";
  }
  return "string";
}

const std::vector<std::string>& DateFormats() {
  static const std::vector<std::string> kFormats = {"%Y-%m-%d", "%Y/%m/%d", "%m/%d/%Y", "%d/%m/%Y", "%d.%m.%Y"};
  return kFormats;
}

const std::vector<std::string>& TimestampFormats() {
  static const std::vector<std::string> kFormats = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                                    "%Y-%m-%d %H:%M",    "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M"};
  return kFormats;
}

std::string FieldNameOf(std::string_view header) {
  std::string out;
  bool gap = false;
  for (char ch : Trim(header)) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) && c < 0x80) {
      if (gap && !out.empty()) out += '_';
      gap = false;
      out += static_cast<char>(std::tolower(c));
    } else {
      gap = true;
    }
  }
  if (out.empty()) return "column";
  if (std::isdigit(static_cast<unsigned char>(out.front()))) out.insert(out.begin(), '_');
  return out;
}

ColumnGuess InferColumn(std::string_view header, const std::vector<std::string>& cells, const InferOptions& options) {
  ColumnGuess g;
  g.header = std::string(header);
  g.field = FieldNameOf(header);
  std::vector<std::string_view> values;
  for (const auto& c : cells) {
    if (c.empty()) {
      ++g.empty;
    } else {
      values.push_back(Trim(c));
    }
  }
  g.filled = values.size();
  g.nullable = g.empty > 0 || values.empty();
  std::set<std::string_view> distinct(values.begin(), values.end());
  g.distinct = distinct.size();
  if (values.empty()) return g;  // nothing to judge: a nullable string

  // Boolean: every value a spelling of true/false. Only 0 and 1 (both seen) also count: a
  // column of 0/1 flags; a column of 1s alone is more likely a count.
  {
    bool all_bool = true, only_digits = true;
    std::set<std::string> lowers;
    for (auto v : values) {
      const std::string l = Lower(v);
      if (!IsCoerceBool(l) && !MappedBool(l)) {
        all_bool = false;
        break;
      }
      if (l != "0" && l != "1") only_digits = false;
      lowers.insert(l);
    }
    if (all_bool && (!only_digits || lowers.size() == 2)) {
      g.type = ColumnType::kBoolean;
      for (auto v : distinct) {
        if (const char* to = MappedBool(Lower(v))) g.bool_map[std::string(v)] = to;
      }
      return g;
    }
  }

  // Numbers: integers (int when every value fits 32 bits), else decimals.
  {
    bool all_int = true, all_number = true, fits_int = true;
    for (auto v : values) {
      if (HasLeadingZero(v)) {
        all_int = all_number = false;
        break;
      }
      if (auto i = stages::ParseInt64(v)) {
        if (*i < std::numeric_limits<std::int32_t>::min() || *i > std::numeric_limits<std::int32_t>::max()) {
          fits_int = false;
        }
        continue;
      }
      all_int = false;
      if (!stages::ParseDouble(v)) {
        all_number = false;
        break;
      }
    }
    if (all_int) {
      g.type = fits_int ? ColumnType::kInt : ColumnType::kLong;
      return g;
    }
    if (all_number) {
      g.type = ColumnType::kDouble;
      return g;
    }
  }

  // Dates (no time of day), then timestamps: one format for every value.
  g.format = CommonFormat(values, DateFormats(), [](std::string_view v, const std::string& f) {
    return stages::ParseDate(v, f);
  });
  if (!g.format.empty()) {
    g.type = ColumnType::kDate;
    g.formats = {g.format};
    return g;
  }
  // Timestamps may mix spellings ('T' or ' ' between date and time): coerce tries its formats
  // in order, so every format some value needs is kept, in the order of TimestampFormats().
  {
    std::set<std::size_t> used;
    bool all = true;
    const auto& formats = TimestampFormats();
    for (auto v : values) {
      std::size_t i = 0;
      while (i < formats.size() && !stages::ParseDateTime(v, formats[i])) ++i;
      if (i == formats.size()) {
        all = false;
        break;
      }
      used.insert(i);
    }
    if (all) {
      g.type = ColumnType::kTimestamp;
      for (std::size_t i : used) g.formats.push_back(formats[i]);
      g.format = g.formats.front();
      return g;
    }
  }

  g.type = ColumnType::kString;
  if (g.distinct <= options.max_categories &&
      static_cast<double>(g.filled) >= options.min_repeats * static_cast<double>(g.distinct)) {
    for (auto v : distinct) g.categories.emplace_back(v);
  }
  return g;
}

std::vector<ColumnGuess> InferColumns(const std::vector<std::string>& header,
                                      const std::vector<std::vector<std::string>>& rows, const InferOptions& options) {
  std::vector<ColumnGuess> out;
  std::set<std::string> used;
  for (std::size_t c = 0; c < header.size(); ++c) {
    std::vector<std::string> cells;
    cells.reserve(rows.size());
    for (const auto& r : rows) cells.push_back(c < r.size() ? r[c] : std::string());
    ColumnGuess g = InferColumn(header[c], cells, options);
    std::string name = g.field;
    for (int n = 2; used.count(name); ++n) name = g.field + "_" + std::to_string(n);
    g.field = name;
    used.insert(name);
    out.push_back(std::move(g));
  }
  return out;
}

}  // namespace sluice::cli
