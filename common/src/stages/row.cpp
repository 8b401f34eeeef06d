#include "sluice/stages/row.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"
#include "sluice/core/file.hpp"

namespace sluice::stages {

using core::ConfigError;

std::string Describe(const Value& v) {
  struct V {
    std::string operator()(const Null&) const { return "null"; }
    std::string operator()(bool b) const { return b ? "true" : "false"; }
    std::string operator()(std::int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      std::ostringstream os;
      os.precision(15);
      os << d;
      return os.str();
    }
    std::string operator()(const std::string& s) const {
      std::string out = "'";
      out.append(s.size() > 64 ? s.substr(0, 64) + "..." : s);
      out += "'";
      return out;
    }
  };
  return std::visit(V{}, v);
}

Row::Row(std::initializer_list<std::pair<std::string, Value>> cells) : cells_(cells) {}

const Value* Row::Find(std::string_view name) const {
  for (const auto& [n, v] : cells_) {
    if (n == name) return &v;
  }
  return nullptr;
}

Value* Row::Find(std::string_view name) {
  for (auto& [n, v] : cells_) {
    if (n == name) return &v;
  }
  return nullptr;
}

std::size_t Row::IndexOf(std::string_view name) const {
  for (std::size_t i = 0; i < cells_.size(); ++i) {
    if (cells_[i].first == name) return i;
  }
  return npos;
}

const Value& Row::Get(std::string_view name) const {
  static const Value kNullValue = Null{};
  const Value* v = Find(name);
  return v ? *v : kNullValue;
}

void Row::Set(std::string_view name, Value value) {
  if (Value* v = Find(name)) {
    *v = std::move(value);
  } else {
    cells_.emplace_back(std::string(name), std::move(value));
  }
}

bool Row::Erase(std::string_view name) {
  auto it = std::find_if(cells_.begin(), cells_.end(), [&](const auto& c) { return c.first == name; });
  if (it == cells_.end()) return false;
  cells_.erase(it);
  return true;
}

std::string_view FieldTypeName(FieldType t) {
  switch (t) {
    case FieldType::kString: return "string";
    case FieldType::kBoolean: return "boolean";
    case FieldType::kInt: return "int";
    case FieldType::kLong: return "long";
    case FieldType::kFloat: return "float";
    case FieldType::kDouble: return "double";
    case FieldType::kDate: return "date";
  }
  return "?";
}

FieldType ParseFieldType(std::string_view name) {
  for (FieldType t : {FieldType::kString, FieldType::kBoolean, FieldType::kInt, FieldType::kLong,
                      FieldType::kFloat, FieldType::kDouble, FieldType::kDate}) {
    if (FieldTypeName(t) == name) return t;
  }
  throw ConfigError("unknown field type '" + std::string(name) +
                    "' (expected string, boolean, int, long, float, double or date)");
}

const FieldSpec* RecordSpec::Find(std::string_view field) const {
  for (const auto& f : fields) {
    if (f.name == field) return &f;
  }
  return nullptr;
}

namespace {

FieldType TypeOf(const nlohmann::json& t, const std::string& where) {
  if (t.is_string()) {
    const auto s = t.get<std::string>();
    if (s == "string") return FieldType::kString;
    if (s == "boolean") return FieldType::kBoolean;
    if (s == "int") return FieldType::kInt;
    if (s == "long") return FieldType::kLong;
    if (s == "float") return FieldType::kFloat;
    if (s == "double") return FieldType::kDouble;
  } else if (t.is_object() && t.contains("type") && t["type"].is_string()) {
    if (t.value("logicalType", "") == "date" && t["type"] == "int") return FieldType::kDate;
    if (!t.contains("logicalType")) return TypeOf(t["type"], where);
    // Other logical types keep their underlying representation.
    return TypeOf(t["type"], where);
  }
  throw ConfigError(where + ": type " + t.dump() + " is not a flat scalar type");
}

}  // namespace

RecordSpec RecordSpecFromAvsc(const nlohmann::json& avsc, const std::string& origin) {
  if (!avsc.is_object() || avsc.value("type", "") != "record" || !avsc.contains("fields") ||
      !avsc["fields"].is_array()) {
    throw ConfigError(origin + ": not an Avro record schema");
  }
  RecordSpec spec;
  spec.name = avsc.value("name", "");
  for (const auto& f : avsc["fields"]) {
    FieldSpec fs;
    fs.name = f.value("name", "");
    const std::string where = origin + ": field '" + fs.name + "'";
    const auto& t = f.at("type");
    if (t.is_array()) {
      if (t.size() != 2 || !(t[0] == "null" || t[1] == "null")) {
        throw ConfigError(where + ": only [\"null\", T] unions are supported by the stages");
      }
      fs.nullable = true;
      fs.type = TypeOf(t[0] == "null" ? t[1] : t[0], where);
    } else {
      fs.type = TypeOf(t, where);
    }
    if (f.contains("default")) {
      const auto& d = f["default"];
      if (d.is_null()) {
        fs.default_value = Null{};
      } else {
        std::string why;
        auto v = ConvertTo(RowFromJson(nlohmann::json{{"v", d}}).Get("v"), fs.type, &why);
        if (!v) throw ConfigError(where + ": bad default: " + why);
        fs.default_value = *v;
      }
    }
    spec.fields.push_back(std::move(fs));
  }
  return spec;
}

RecordSpec LoadRecordSpec(const std::string& avsc_path) {
  return RecordSpecFromAvsc(LoadAvsc(avsc_path), avsc_path);
}

namespace {

// `chain`: the files being resolved, outermost first (a cycle check and the message).
nlohmann::json LoadAvscIn(const std::filesystem::path& path, std::vector<std::string>& chain) {
  const std::string name = path.lexically_normal().string();
  if (std::find(chain.begin(), chain.end(), name) != chain.end()) {
    std::string cycle;
    for (const auto& c : chain) cycle += c + " -> ";
    throw ConfigError(chain.front() + ": " + kExtendsAttribute + " forms a cycle: " + cycle + name);
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(core::ReadTextFile(path, "schema file"));
  } catch (const nlohmann::json::exception& e) {
    throw ConfigError(name + ": invalid JSON: " + e.what());
  }
  if (!j.is_object() || !j.contains(kExtendsAttribute)) return j;
  const auto& extends = j[kExtendsAttribute];
  const std::string where = name + ": " + kExtendsAttribute;
  if (!extends.is_string() || extends.get<std::string>().empty()) {
    throw ConfigError(where + ": expected the file name of the extended schema, relative to this file");
  }
  if (j.value("type", "") != "record" || (j.contains("fields") && !j["fields"].is_array())) {
    throw ConfigError(where + ": only a record (with a list of fields, or none) can extend another");
  }
  chain.push_back(name);
  const nlohmann::json base = LoadAvscIn(path.parent_path() / extends.get<std::string>(), chain);
  chain.pop_back();
  if (!base.is_object() || base.value("type", "") != "record" || !base.contains("fields") ||
      !base["fields"].is_array()) {
    throw ConfigError(where + ": '" + extends.get<std::string>() + "' is not a record with fields");
  }
  nlohmann::json fields = base["fields"];
  std::set<std::string> names;
  for (const auto& f : fields) names.insert(f.value("name", ""));
  for (const auto& f : j.value("fields", nlohmann::json::array())) {
    const std::string field = f.is_object() ? f.value("name", "") : "";
    if (!field.empty() && !names.insert(field).second) {
      throw ConfigError(where + ": field '" + field + "' is already in '" + extends.get<std::string>() +
                        "': an extending schema adds fields, it does not redefine them");
    }
    fields.push_back(f);
  }
  j.erase(kExtendsAttribute);
  j["fields"] = std::move(fields);
  return j;
}

}  // namespace

nlohmann::json LoadAvsc(const std::string& avsc_path) {
  std::vector<std::string> chain;
  return LoadAvscIn(avsc_path, chain);
}

std::optional<std::int64_t> ParseInt64(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e) return std::nullopt;
  return v;
}

double RoundDecimal(double x, int decimals) {
  if (!std::isfinite(x) || decimals < 0) return x;
  // The shortest decimal form that reads back as x, e.g. "-1.005"; at most 309 integer digits.
  char buf[400];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed);
  if (ec != std::errc()) return x;
  std::string text(buf, end);
  const bool negative = text.front() == '-';
  if (negative) text.erase(0, 1);
  const auto point = text.find('.');
  if (point == std::string::npos || text.size() - point - 1 <= static_cast<std::size_t>(decimals)) return x;
  const bool up = text[point + 1 + static_cast<std::size_t>(decimals)] >= '5';
  text.resize(point + 1 + static_cast<std::size_t>(decimals));
  if (text.back() == '.') text.pop_back();
  if (up) {
    std::size_t i = text.size();
    for (;;) {
      if (i == 0) {
        text.insert(text.begin(), '1');
        break;
      }
      --i;
      if (text[i] == '.') continue;
      if (text[i] != '9') {
        ++text[i];
        break;
      }
      text[i] = '0';
    }
  }
  double out = 0;
  std::from_chars(text.data(), text.data() + text.size(), out);
  return negative ? -out : out;
}

std::optional<double> ParseDouble(std::string_view text) {
  if (text.empty()) return std::nullopt;
  const char* b = text.data();
  const char* e = b + text.size();
  if (*b == '+') ++b;
  double v = 0;
  auto [p, ec] = std::from_chars(b, e, v);
  if (ec != std::errc() || p != e || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<Value> ConvertTo(const Value& v, FieldType type, std::string* why) {
  auto fail = [&](const std::string& msg) -> std::optional<Value> {
    if (why) *why = msg;
    return std::nullopt;
  };
  if (IsNull(v)) return Value{Null{}};
  switch (type) {
    case FieldType::kString:
      if (std::holds_alternative<std::string>(v)) return v;
      if (auto* i = std::get_if<std::int64_t>(&v)) return Value{std::to_string(*i)};
      if (auto* d = std::get_if<double>(&v)) {
        std::string s = Describe(*d);
        return Value{s};
      }
      return Value{std::string(std::get<bool>(v) ? "true" : "false")};
    case FieldType::kBoolean:
      if (std::holds_alternative<bool>(v)) return v;
      if (auto* s = std::get_if<std::string>(&v)) {
        const std::string l = ToLower(Trim(*s));
        if (l == "true" || l == "1" || l == "yes") return Value{true};
        if (l == "false" || l == "0" || l == "no") return Value{false};
      }
      return fail("not a boolean: " + Describe(v));
    case FieldType::kInt:
    case FieldType::kLong: {
      std::optional<std::int64_t> out;
      if (auto* i = std::get_if<std::int64_t>(&v)) out = *i;
      else if (auto* d = std::get_if<double>(&v)) {
        if (std::trunc(*d) == *d && std::fabs(*d) < 9.2e18) out = static_cast<std::int64_t>(*d);
      } else if (auto* s = std::get_if<std::string>(&v)) {
        out = ParseInt64(Trim(*s));
        if (!out) {
          // "35000.0" is an integer written as a decimal.
          if (auto d = ParseDouble(Trim(*s)); d && std::trunc(*d) == *d && std::fabs(*d) < 9.2e18) {
            out = static_cast<std::int64_t>(*d);
          }
        }
      }
      if (!out) return fail("not an integer: " + Describe(v));
      if (type == FieldType::kInt &&
          (*out < std::numeric_limits<std::int32_t>::min() || *out > std::numeric_limits<std::int32_t>::max())) {
        return fail("out of int range: " + Describe(v));
      }
      return Value{*out};
    }
    case FieldType::kFloat:
    case FieldType::kDouble: {
      if (std::holds_alternative<double>(v)) return v;
      if (auto* i = std::get_if<std::int64_t>(&v)) return Value{static_cast<double>(*i)};
      if (auto* s = std::get_if<std::string>(&v)) {
        if (auto d = ParseDouble(Trim(*s))) return Value{*d};
      }
      return fail("not a number: " + Describe(v));
    }
    case FieldType::kDate: {
      if (std::holds_alternative<std::int64_t>(v)) return v;
      if (auto* s = std::get_if<std::string>(&v)) {
        if (auto d = ParseDate(Trim(*s), "%Y-%m-%d")) return Value{*d};
      }
      return fail("not a date (YYYY-MM-DD): " + Describe(v));
    }
  }
  return fail("unsupported type");
}

bool TypeInPlace(Row& work, const RecordSpec& spec, std::vector<std::size_t>* slots, std::string* why) {
  slots->clear();
  for (const auto& f : spec.fields) {
    std::size_t at = work.IndexOf(f.name);
    if (at == Row::npos) {
      if (!f.nullable && !(f.default_value && !IsNull(*f.default_value))) {
        *why = f.name + ": null in a non-nullable " + std::string(FieldTypeName(f.type)) + " field";
        return false;
      }
      at = work.size();
      work.Append(f.name, f.nullable ? Value{Null{}} : *f.default_value);
      slots->push_back(at);
      continue;
    }
    Value& v = work.cell(at).second;
    slots->push_back(at);
    if (IsNull(v)) {
      if (f.nullable) continue;
      *why = f.name + ": null in a non-nullable " + std::string(FieldTypeName(f.type)) + " field";
      return false;
    }
    // Already of the field's type: nothing to convert (int and date still check their range).
    const bool same = (f.type == FieldType::kString && std::holds_alternative<std::string>(v)) ||
                      (f.type == FieldType::kLong && std::holds_alternative<std::int64_t>(v)) ||
                      (f.type == FieldType::kDouble && std::holds_alternative<double>(v)) ||
                      (f.type == FieldType::kBoolean && std::holds_alternative<bool>(v));
    if (same) continue;
    std::string problem;
    auto typed = ConvertTo(v, f.type, &problem);
    if (!typed) {
      *why = f.name + ": " + problem;
      return false;
    }
    v = std::move(*typed);
  }
  return true;
}

Row TakeTyped(Row& work, const std::vector<std::size_t>& slots) {
  Row out;
  out.Reserve(slots.size());
  for (std::size_t at : slots) {
    auto& [name, value] = work.cell(at);
    out.Append(std::move(name), std::move(value));
  }
  return out;
}

std::optional<Row> TypeInto(const Row& work, const RecordSpec& spec, std::string* why) {
  Row copy = work;
  std::vector<std::size_t> slots;
  if (!TypeInPlace(copy, spec, &slots, why)) return std::nullopt;
  return TakeTyped(copy, slots);
}

// Howard Hinnant's public-domain civil calendar algorithms.
std::int64_t DaysFromCivil(int y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void CivilFromDays(std::int64_t z, int* year, unsigned* month, unsigned* day) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *day = doy - (153 * mp + 2) / 5 + 1;
  *month = mp < 10 ? mp + 3 : mp - 9;
  *year = static_cast<int>(y + (*month <= 2));
}

std::string FormatDate(std::int64_t days) {
  int y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", y, m, d);
  return buf;
}

namespace {

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int y, unsigned m) {
  static const unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads 1..max_digits digits (exactly max_digits when exact).
bool ReadDigits(std::string_view text, std::size_t& pos, int max_digits, bool exact, int* out) {
  int n = 0, v = 0;
  while (pos < text.size() && n < max_digits && std::isdigit(static_cast<unsigned char>(text[pos]))) {
    v = v * 10 + (text[pos] - '0');
    ++pos;
    ++n;
  }
  if (n == 0 || (exact && n != max_digits)) return false;
  *out = v;
  return true;
}

}  // namespace

std::optional<std::int64_t> ParseDateTime(std::string_view text, std::string_view format) {
  static const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                  "jul", "aug", "sep", "oct", "nov", "dec"};
  int y = -1, m = -1, d = 1, hh = 0, mm = 0, ss = 0, ms = 0;
  std::size_t pos = 0;
  for (std::size_t i = 0; i < format.size(); ++i) {
    if (format[i] == '%' && i + 1 < format.size()) {
      const char c = format[++i];
      int v = 0;
      switch (c) {
        case 'Y':
          if (!ReadDigits(text, pos, 4, true, &v)) return std::nullopt;
          y = v;
          break;
        case 'y':
          if (!ReadDigits(text, pos, 2, true, &v)) return std::nullopt;
          y = v < 70 ? 2000 + v : 1900 + v;
          break;
        case 'm':
          if (!ReadDigits(text, pos, 2, false, &v)) return std::nullopt;
          m = v;
          break;
        case 'd':
          if (!ReadDigits(text, pos, 2, false, &v)) return std::nullopt;
          d = v;
          break;
        case 'H':
          if (!ReadDigits(text, pos, 2, false, &v) || v > 23) return std::nullopt;
          hh = v;
          break;
        case 'M':
          if (!ReadDigits(text, pos, 2, false, &v) || v > 59) return std::nullopt;
          mm = v;
          break;
        case 'S':
          if (!ReadDigits(text, pos, 2, false, &v) || v > 60) return std::nullopt;
          ss = v;
          break;
        case 'f': {  // a fraction of a second, 1 to 9 digits: kept to the millisecond
          std::size_t digits = 0;
          int scale = 100;
          while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9' && digits < 9) {
            ms += (text[pos] - '0') * scale;
            scale /= 10;
            ++pos;
            ++digits;
          }
          if (digits == 0) return std::nullopt;
          break;
        }
        case 'b': {
          if (pos + 3 > text.size()) return std::nullopt;
          const std::string abbr = ToLower(text.substr(pos, 3));
          int found = -1;
          for (int k = 0; k < 12; ++k) {
            if (abbr == kMonths[k]) found = k + 1;
          }
          if (found < 0) return std::nullopt;
          m = found;
          pos += 3;
          break;
        }
        case '%':
          if (pos >= text.size() || text[pos] != '%') return std::nullopt;
          ++pos;
          break;
        default:
          return std::nullopt;
      }
    } else {
      if (pos >= text.size() || text[pos] != format[i]) return std::nullopt;
      ++pos;
    }
  }
  if (pos != text.size() || y < 0 || m < 1 || m > 12 || d < 1) return std::nullopt;
  if (static_cast<unsigned>(d) > DaysInMonth(y, static_cast<unsigned>(m))) return std::nullopt;
  const std::int64_t days = DaysFromCivil(y, static_cast<unsigned>(m), static_cast<unsigned>(d));
  return days * 86'400'000 + (hh * 3600 + mm * 60 + ss) * 1000LL + ms;
}

std::optional<std::int64_t> ParseDate(std::string_view text, std::string_view format) {
  auto ms = ParseDateTime(text, format);
  if (!ms) return std::nullopt;
  // Floor division: dates before 1970 are negative.
  return *ms >= 0 ? *ms / 86'400'000 : -((-*ms + 86'400'000 - 1) / 86'400'000);
}

std::string_view Trim(std::string_view s) {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

std::string AsText(const Value& v) {
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  std::string why;
  auto t = ConvertTo(v, FieldType::kString, &why);
  return t && std::holds_alternative<std::string>(*t) ? std::get<std::string>(*t) : "";
}

std::optional<double> AsNumber(const Value& v) {
  if (auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (auto* d = std::get_if<double>(&v)) return *d;
  if (auto* s = std::get_if<std::string>(&v)) return ParseDouble(Trim(*s));
  return std::nullopt;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Row RowFromJson(const nlohmann::json& j) {
  Row row;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const auto& v = it.value();
    if (v.is_null()) row.Set(it.key(), Null{});
    else if (v.is_boolean()) row.Set(it.key(), v.get<bool>());
    else if (v.is_number_integer()) row.Set(it.key(), v.get<std::int64_t>());
    else if (v.is_number()) row.Set(it.key(), v.get<double>());
    else if (v.is_string()) row.Set(it.key(), v.get<std::string>());
    else throw ConfigError("field '" + it.key() + "': only scalar values are allowed in a row");
  }
  return row;
}

nlohmann::json RowToJson(const Row& row) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& cell : row.cells()) {
    const std::string& name = cell.first;  // clang 14 cannot capture a structured binding
    const Value& v = cell.second;
    std::visit([&](const auto& x) {
      using T = std::decay_t<decltype(x)>;
      if constexpr (std::is_same_v<T, Null>) j[name] = nullptr;
      else j[name] = x;
    }, v);
  }
  return j;
}

}  // namespace sluice::stages
