#include "sluice/pg/flat_row_text.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "sluice/core/error.hpp"

namespace sluice::pg {
namespace {

using avro::LogicalType;
using avro::Type;

// Civil date from days since 1970-01-01 (proleptic Gregorian), by era arithmetic.
void CivilFromDays(std::int64_t days, std::int64_t& y, unsigned& m, unsigned& d) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0);
}

std::string Date(std::int64_t days) {
  std::int64_t y;
  unsigned m, d;
  CivilFromDays(days, y, m, d);
  if (y > 0 && y <= 9999) {  // the common case, without printf (a date column per row)
    std::string out = "0000-00-00";
    for (int i = 3; i >= 0; --i, y /= 10) out[static_cast<std::size_t>(i)] = static_cast<char>('0' + y % 10);
    out[5] = static_cast<char>('0' + m / 10);
    out[6] = static_cast<char>('0' + m % 10);
    out[8] = static_cast<char>('0' + d / 10);
    out[9] = static_cast<char>('0' + d % 10);
    return out;
  }
  char buf[48];
  // PostgreSQL has no year 0: astronomical year y <= 0 is (1 - y) BC.
  if (y > 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u BC", static_cast<long long>(1 - y), m, d);
  }
  return buf;
}

// HH:MM:SS.ffffff from a count of `unit` per second.
std::string TimeOfDay(std::int64_t value, std::int64_t per_second) {
  if (value < 0) return "invalid time " + std::to_string(value);  // the server rejects it: DLQ
  const std::int64_t seconds = value / per_second;
  const std::int64_t micros = (value % per_second) * (1'000'000 / per_second);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02lld:%02lld:%02lld.%06lld", static_cast<long long>(seconds / 3600),
                static_cast<long long>(seconds / 60 % 60), static_cast<long long>(seconds % 60),
                static_cast<long long>(micros));
  return buf;
}

std::string Timestamp(std::int64_t value, std::int64_t per_second, bool utc) {
  std::int64_t seconds = value / per_second;
  std::int64_t fraction = value % per_second;
  if (fraction < 0) {
    fraction += per_second;
    --seconds;
  }
  std::int64_t days = seconds / 86400;
  std::int64_t in_day = seconds % 86400;
  if (in_day < 0) {
    in_day += 86400;
    --days;
  }
  std::string date = Date(days);
  std::string bc;
  if (date.size() > 3 && date.compare(date.size() - 3, 3, " BC") == 0) {
    date.resize(date.size() - 3);
    bc = " BC";
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "%s %02lld:%02lld:%02lld.%06lld%s%s", date.c_str(),
                static_cast<long long>(in_day / 3600), static_cast<long long>(in_day / 60 % 60),
                static_cast<long long>(in_day % 60),
                static_cast<long long>(fraction * (1'000'000 / per_second)), utc ? "+00" : "",
                bc.c_str());
  return buf;
}

template <typename T>
std::string Floating(T value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  const auto end = std::to_chars(buf, buf + sizeof buf, value).ptr;  // shortest round trip
  return std::string(buf, end);
}

std::string Hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\\x";
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// Big-endian two's-complement unscaled integer → decimal text with `scale` fraction digits.
std::string Decimal(std::string_view bytes, int scale) {
  std::vector<std::uint8_t> magnitude(bytes.begin(), bytes.end());
  const bool negative = !magnitude.empty() && (magnitude[0] & 0x80) != 0;
  if (negative) {  // two's complement: invert and add one
    for (auto& b : magnitude) b = static_cast<std::uint8_t>(~b);
    for (auto it = magnitude.rbegin(); it != magnitude.rend(); ++it) {
      if (++*it != 0) break;
    }
  }
  std::string digits;
  // Repeated division by 10 of the base-256 number; decimals in pipelines are a few bytes.
  std::size_t start = 0;
  while (start < magnitude.size()) {
    unsigned remainder = 0;
    for (std::size_t i = start; i < magnitude.size(); ++i) {
      const unsigned value = remainder * 256 + magnitude[i];
      magnitude[i] = static_cast<std::uint8_t>(value / 10);
      remainder = value % 10;
    }
    digits += static_cast<char>('0' + remainder);
    while (start < magnitude.size() && magnitude[start] == 0) ++start;
  }
  if (digits.empty()) digits = "0";
  while (digits.size() <= static_cast<std::size_t>(scale)) digits += '0';
  std::string out = negative ? "-" : "";
  for (std::size_t i = digits.size(); i-- > 0;) {
    out += digits[i];
    if (scale > 0 && i == static_cast<std::size_t>(scale)) out += '.';
  }
  return out;
}

// Avro duration: three little-endian uint32 (months, days, milliseconds).
std::string Duration(std::string_view bytes) {
  if (bytes.size() != 12) return "invalid duration";
  auto u32 = [&](std::size_t at) {
    return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at])) |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 1])) << 8 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 2])) << 16 |
           static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + 3])) << 24;
  };
  return std::to_string(u32(0)) + " months " + std::to_string(u32(4)) + " days " +
         std::to_string(u32(8)) + " milliseconds";
}

}  // namespace

std::vector<std::string> FlatColumns(const avro::FlatLayout& layout) {
  std::vector<std::string> out;
  for (const auto& field : layout.fields()) out.push_back(field.name);
  return out;
}

std::optional<std::string> CellText(const avro::FlatRow& row, std::size_t i) {
  if (row.is_null(i)) return std::nullopt;
  const avro::FlatField& field = row.layout()->fields()[i];
  switch (field.type) {
    case Type::kBoolean:
      return std::string(row.GetBool(i) ? "true" : "false");
    case Type::kInt:
    case Type::kLong: {
      const std::int64_t v = row.GetLong(i);
      switch (field.logical) {
        case LogicalType::kDate:
          return Date(v);
        case LogicalType::kTimeMillis:
          return TimeOfDay(v, 1000);
        case LogicalType::kTimeMicros:
          return TimeOfDay(v, 1'000'000);
        case LogicalType::kTimestampMillis:
          return Timestamp(v, 1000, true);
        case LogicalType::kTimestampMicros:
          return Timestamp(v, 1'000'000, true);
        case LogicalType::kLocalTimestampMillis:
          return Timestamp(v, 1000, false);
        case LogicalType::kLocalTimestampMicros:
          return Timestamp(v, 1'000'000, false);
        default:
          return std::to_string(v);
      }
    }
    case Type::kFloat:
      return Floating(static_cast<float>(row.GetDouble(i)));
    case Type::kDouble:
      return Floating(row.GetDouble(i));
    case Type::kString:
    case Type::kEnum:
      return std::string(row.GetString(i));
    case Type::kBytes:
    case Type::kFixed:
      if (field.logical == LogicalType::kDecimal) {
        return Decimal(row.GetString(i), field.node->scale());
      }
      if (field.logical == LogicalType::kDuration) return Duration(row.GetString(i));
      return Hex(row.GetString(i));
    default:
      break;
  }
  SLUICE_ASSERT(false, "flat layouts hold only scalar fields");
  return std::nullopt;
}

void AppendFlatCell(RowBatch& batch, const avro::FlatRow& row, std::size_t i) {
  const avro::FlatField& field = row.layout()->fields()[i];
  if (row.is_null(i)) {
    batch.AddNull();
  } else if (field.logical == LogicalType::kNone &&
             (field.type == Type::kString || field.type == Type::kEnum)) {
    batch.Add(row.GetString(i));  // no copy for the common case
  } else if (field.logical == LogicalType::kNone &&
             (field.type == Type::kInt || field.type == Type::kLong)) {
    char buf[24];
    const auto end = std::to_chars(buf, buf + sizeof buf, row.GetLong(i)).ptr;
    batch.Add(std::string_view(buf, static_cast<std::size_t>(end - buf)));
  } else if (field.type == Type::kDouble && std::isfinite(row.GetDouble(i))) {
    char buf[64];
    const auto end = std::to_chars(buf, buf + sizeof buf, row.GetDouble(i)).ptr;
    batch.Add(std::string_view(buf, static_cast<std::size_t>(end - buf)));
  } else {
    batch.Add(*CellText(row, i));
  }
}

void AppendFlatRow(RowBatch& batch, const avro::FlatRow& row) {
  SLUICE_ASSERT(row.size() == batch.columns().size(), "flat row width differs from the batch");
  for (std::size_t i = 0; i < row.size(); ++i) AppendFlatCell(batch, row, i);
  batch.EndRow();
}

void AppendFlatRow(RowBatch& batch, const avro::FlatRow& row,
                   const std::vector<std::optional<std::size_t>>& field_of_column) {
  SLUICE_ASSERT(field_of_column.size() == batch.columns().size(),
                "column mapping width differs from the batch");
  for (const std::optional<std::size_t>& field : field_of_column) {
    if (field && *field < row.size()) {
      AppendFlatCell(batch, row, *field);
    } else {
      batch.AddNull();
    }
  }
  batch.EndRow();
}

}  // namespace sluice::pg
