// Avro binary encoding: the bounded reader, the writer and the generic datum codec.
#include "sluice/avro/codec.hpp"

#include <bit>
#include <cstring>
#include <limits>

namespace sluice::avro {

namespace {

template <typename T>
T LoadLittle(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    unsigned char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
    std::memcpy(&v, b, sizeof(T));
  }
  return v;
}

template <typename T>
void StoreLittle(std::string& out, T v) {
  char b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    for (std::size_t i = 0; i < sizeof(T) / 2; ++i) std::swap(b[i], b[sizeof(T) - 1 - i]);
  }
  out.append(b, sizeof(T));
}

}  // namespace

DecodeError::DecodeError(std::size_t offset, const std::string& reason)
    : core::DataError("Avro decode error at byte " + std::to_string(offset) + ": " + reason),
      offset_(offset) {}

void BinaryReader::Fail(const std::string& reason) const { throw DecodeError(pos_, reason); }

std::uint64_t BinaryReader::ReadVarint(int max_bytes) {
  std::uint64_t result = 0;
  int shift = 0;
  const std::size_t start = pos_;
  for (int i = 0; i < max_bytes; ++i) {
    if (pos_ >= data_.size()) {
      pos_ = start;
      Fail("truncated varint");
    }
    auto b = static_cast<unsigned char>(data_[pos_++]);
    result |= static_cast<std::uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      // The last permitted byte may only carry the bits left in the value.
      if (i == max_bytes - 1) {
        unsigned allowed = max_bytes == 10 ? 0x01 : 0x0f;
        if (b > allowed) {
          pos_ = start;
          Fail("varint overflows");
        }
      }
      return result;
    }
    shift += 7;
  }
  pos_ = start;
  Fail("varint too long");
}

std::int64_t BinaryReader::ReadLong() {
  if (pos_ < data_.size() && (static_cast<unsigned char>(data_[pos_]) & 0x80) == 0) {
    // One-byte fast path (small values dominate: lengths, counts, branch indexes).
    auto n = static_cast<std::uint64_t>(static_cast<unsigned char>(data_[pos_++]));
    return static_cast<std::int64_t>(n >> 1) ^ -static_cast<std::int64_t>(n & 1);
  }
  std::uint64_t n = ReadVarint(10);
  return static_cast<std::int64_t>(n >> 1) ^ -static_cast<std::int64_t>(n & 1);
}

std::int32_t BinaryReader::ReadInt() {
  std::uint64_t n = ReadVarint(5);
  auto u = static_cast<std::uint32_t>(n);
  return static_cast<std::int32_t>(u >> 1) ^ -static_cast<std::int32_t>(u & 1);
}

bool BinaryReader::ReadBoolean() {
  if (pos_ >= data_.size()) Fail("truncated boolean");
  auto b = static_cast<unsigned char>(data_[pos_]);
  if (b > 1) Fail("boolean byte is neither 0 nor 1");
  ++pos_;
  return b == 1;
}

float BinaryReader::ReadFloat() {
  if (remaining() < 4) Fail("truncated float");
  float v = LoadLittle<float>(data_.data() + pos_);
  pos_ += 4;
  return v;
}

double BinaryReader::ReadDouble() {
  if (remaining() < 8) Fail("truncated double");
  double v = LoadLittle<double>(data_.data() + pos_);
  pos_ += 8;
  return v;
}

std::string_view BinaryReader::ReadBytesView() {
  const std::size_t start = pos_;
  std::int64_t len = ReadLong();
  if (len < 0) {
    pos_ = start;
    Fail("negative length " + std::to_string(len));
  }
  if (static_cast<std::uint64_t>(len) > remaining()) {
    pos_ = start;
    Fail("length " + std::to_string(len) + " exceeds the " + std::to_string(remaining()) +
         " bytes left");
  }
  if (static_cast<std::uint64_t>(len) > limits_.max_bytes) {
    pos_ = start;
    Fail("length " + std::to_string(len) + " exceeds the limit");
  }
  std::string_view v = data_.substr(pos_, static_cast<std::size_t>(len));
  pos_ += static_cast<std::size_t>(len);
  return v;
}

std::string_view BinaryReader::ReadFixedView(std::size_t n) {
  if (n > remaining()) Fail("truncated fixed of size " + std::to_string(n));
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

void BinaryReader::Skip(std::size_t n) {
  if (n > remaining()) Fail("truncated value");
  pos_ += n;
}

std::size_t BinaryReader::ReadBlockCount(std::size_t min_item_bytes, std::size_t items_so_far) {
  const std::size_t start = pos_;
  std::int64_t count = ReadLong();
  if (count < 0) {
    // A negative count is followed by the block's size in bytes (lets readers skip it).
    if (count == std::numeric_limits<std::int64_t>::min()) {
      pos_ = start;
      Fail("invalid block count");
    }
    count = -count;
    std::int64_t size = ReadLong();
    if (size < 0 || static_cast<std::uint64_t>(size) > remaining()) {
      pos_ = start;
      Fail("block size " + std::to_string(size) + " does not fit the bytes left");
    }
    if (min_item_bytes > 0 && static_cast<std::uint64_t>(count) >
                                  static_cast<std::uint64_t>(size) / min_item_bytes) {
      pos_ = start;
      Fail("block count " + std::to_string(count) + " does not fit its block size");
    }
  }
  if (count == 0) return 0;
  auto c = static_cast<std::uint64_t>(count);
  if (min_item_bytes > 0 && c > remaining() / min_item_bytes) {
    pos_ = start;
    Fail("block count " + std::to_string(count) + " exceeds the bytes left");
  }
  if (c > limits_.max_collection || items_so_far + c > limits_.max_collection) {
    pos_ = start;
    Fail("collection larger than the limit of " + std::to_string(limits_.max_collection));
  }
  total_items_ += c;
  if (total_items_ > limits_.max_total_items) {
    pos_ = start;
    Fail("more collection items than the limit of " + std::to_string(limits_.max_total_items));
  }
  return static_cast<std::size_t>(c);
}

void BinaryReader::Enter() {
  if (++depth_ > limits_.max_depth) {
    --depth_;
    Fail("nesting deeper than the limit of " + std::to_string(limits_.max_depth));
  }
}

void BinaryWriter::WriteLong(std::int64_t v) {
  auto n = (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
  char buf[10];
  int i = 0;
  while (n >= 0x80) {
    buf[i++] = static_cast<char>((n & 0x7f) | 0x80);
    n >>= 7;
  }
  buf[i++] = static_cast<char>(n);
  out_.append(buf, static_cast<std::size_t>(i));
}

void BinaryWriter::WriteFloat(float v) { StoreLittle(out_, v); }
void BinaryWriter::WriteDouble(double v) { StoreLittle(out_, v); }
void BinaryWriter::WriteBytes(std::string_view v) {
  WriteLong(static_cast<std::int64_t>(v.size()));
  out_.append(v);
}

namespace {

// RAII depth guard for the reader.
class DepthGuard {
 public:
  explicit DepthGuard(BinaryReader& r) : r_(r) { r_.Enter(); }
  ~DepthGuard() { r_.Leave(); }
  DepthGuard(const DepthGuard&) = delete;
  DepthGuard& operator=(const DepthGuard&) = delete;

 private:
  BinaryReader& r_;
};

[[noreturn]] void Mismatch(const Node& node, const char* expected_datum) {
  std::string what = node.is_named() ? node.full_name() : std::string(TypeName(node.type()));
  throw EncodeError("datum does not match schema type " + what + " (expected a " +
                    expected_datum + " datum)");
}

template <typename T>
const T& Expect(const Node& node, const Datum& d, const char* what) {
  const T* v = std::get_if<T>(&d.value());
  if (v == nullptr) Mismatch(node, what);
  return *v;
}

void EncodeNode(const Node& node, const Datum& d, BinaryWriter& w, std::size_t depth) {
  if (depth > 10000) throw EncodeError("datum nested too deeply");
  switch (node.type()) {
    case Type::kNull: Expect<Null>(node, d, "Null"); return;
    case Type::kBoolean: w.WriteBoolean(Expect<bool>(node, d, "bool")); return;
    case Type::kInt: w.WriteInt(Expect<std::int32_t>(node, d, "int32")); return;
    case Type::kLong: w.WriteLong(Expect<std::int64_t>(node, d, "int64")); return;
    case Type::kFloat: w.WriteFloat(Expect<float>(node, d, "float")); return;
    case Type::kDouble: w.WriteDouble(Expect<double>(node, d, "double")); return;
    case Type::kBytes: w.WriteBytes(Expect<Bytes>(node, d, "Bytes").value); return;
    case Type::kString: w.WriteBytes(Expect<std::string>(node, d, "string")); return;
    case Type::kFixed: {
      const Fixed& f = Expect<Fixed>(node, d, "Fixed");
      if (f.value.size() != node.fixed_size()) {
        throw EncodeError("fixed " + node.full_name() + " needs " +
                          std::to_string(node.fixed_size()) + " bytes, got " +
                          std::to_string(f.value.size()));
      }
      w.WriteFixed(f.value);
      return;
    }
    case Type::kEnum: {
      const EnumValue& e = Expect<EnumValue>(node, d, "EnumValue");
      if (e.index >= node.symbols().size()) {
        throw EncodeError("enum " + node.full_name() + " has no symbol #" + std::to_string(e.index));
      }
      w.WriteLong(static_cast<std::int64_t>(e.index));
      return;
    }
    case Type::kRecord: {
      const Record& r = Expect<Record>(node, d, "Record");
      if (r.fields.size() != node.fields().size()) {
        throw EncodeError("record " + node.full_name() + " has " +
                          std::to_string(node.fields().size()) + " fields, datum has " +
                          std::to_string(r.fields.size()));
      }
      for (std::size_t i = 0; i < r.fields.size(); ++i) {
        EncodeNode(node.fields()[i].type(), r.fields[i], w, depth + 1);
      }
      return;
    }
    case Type::kArray: {
      const Array& a = Expect<Array>(node, d, "Array");
      if (!a.items.empty()) {
        w.WriteLong(static_cast<std::int64_t>(a.items.size()));
        for (const Datum& item : a.items) EncodeNode(node.items(), item, w, depth + 1);
      }
      w.WriteLong(0);
      return;
    }
    case Type::kMap: {
      const Map& m = Expect<Map>(node, d, "Map");
      if (!m.entries.empty()) {
        w.WriteLong(static_cast<std::int64_t>(m.entries.size()));
        for (const auto& [k, v] : m.entries) {
          w.WriteBytes(k);
          EncodeNode(node.values(), v, w, depth + 1);
        }
      }
      w.WriteLong(0);
      return;
    }
    case Type::kUnion: {
      const Union& u = Expect<Union>(node, d, "Union");
      if (u.branch >= node.branches().size()) {
        throw EncodeError("union has no branch #" + std::to_string(u.branch));
      }
      w.WriteLong(static_cast<std::int64_t>(u.branch));
      EncodeNode(*node.branches()[u.branch], u.value(), w, depth + 1);
      return;
    }
  }
}

}  // namespace

void Encode(const Node& node, const Datum& datum, std::string& out) {
  BinaryWriter w(out);
  EncodeNode(node, datum, w, 0);
}

void Encode(const Schema& schema, const Datum& datum, std::string& out) {
  Encode(schema.root(), datum, out);
}

Datum Decode(const Node& node, BinaryReader& r) {
  switch (node.type()) {
    case Type::kNull: return Null{};
    case Type::kBoolean: return r.ReadBoolean();
    case Type::kInt: return r.ReadInt();
    case Type::kLong: return r.ReadLong();
    case Type::kFloat: return r.ReadFloat();
    case Type::kDouble: return r.ReadDouble();
    case Type::kBytes: return Bytes{std::string(r.ReadBytesView())};
    case Type::kString: return std::string(r.ReadBytesView());
    case Type::kFixed: return Fixed{std::string(r.ReadFixedView(node.fixed_size()))};
    case Type::kEnum: {
      std::int64_t i = r.ReadLong();
      if (i < 0 || static_cast<std::uint64_t>(i) >= node.symbols().size()) {
        r.Fail("enum index " + std::to_string(i) + " out of range for " + node.full_name());
      }
      return EnumValue{static_cast<std::size_t>(i)};
    }
    case Type::kRecord: {
      DepthGuard guard(r);
      Record rec;
      rec.fields.reserve(node.fields().size());
      for (const Field& f : node.fields()) rec.fields.push_back(Decode(f.type(), r));
      return rec;
    }
    case Type::kArray: {
      DepthGuard guard(r);
      Array a;
      const std::size_t min = node.items().min_encoded_size();
      while (std::size_t n = r.ReadBlockCount(min, a.items.size())) {
        if (min > 0) a.items.reserve(a.items.size() + n);
        for (std::size_t i = 0; i < n; ++i) a.items.push_back(Decode(node.items(), r));
      }
      return a;
    }
    case Type::kMap: {
      DepthGuard guard(r);
      Map m;
      const std::size_t min = 1 + node.values().min_encoded_size();
      while (std::size_t n = r.ReadBlockCount(min, m.entries.size())) {
        m.entries.reserve(m.entries.size() + n);
        for (std::size_t i = 0; i < n; ++i) {
          std::string key(r.ReadBytesView());
          m.entries.emplace_back(std::move(key), Decode(node.values(), r));
        }
      }
      return m;
    }
    case Type::kUnion: {
      std::int64_t b = r.ReadLong();
      if (b < 0 || static_cast<std::uint64_t>(b) >= node.branches().size()) {
        r.Fail("union branch " + std::to_string(b) + " out of range");
      }
      auto branch = static_cast<std::size_t>(b);
      return Union(branch, Decode(*node.branches()[branch], r));
    }
  }
  r.Fail("unknown type");
}

void SkipValue(const Node& node, BinaryReader& r) {
  switch (node.type()) {
    case Type::kNull: return;
    case Type::kBoolean: r.ReadBoolean(); return;
    case Type::kInt: r.ReadInt(); return;
    case Type::kLong: r.ReadLong(); return;
    case Type::kFloat: r.Skip(4); return;
    case Type::kDouble: r.Skip(8); return;
    case Type::kBytes:
    case Type::kString: r.ReadBytesView(); return;
    case Type::kFixed: r.Skip(node.fixed_size()); return;
    case Type::kEnum: {
      std::int64_t i = r.ReadLong();
      if (i < 0 || static_cast<std::uint64_t>(i) >= node.symbols().size()) {
        r.Fail("enum index " + std::to_string(i) + " out of range for " + node.full_name());
      }
      return;
    }
    case Type::kRecord: {
      DepthGuard guard(r);
      for (const Field& f : node.fields()) SkipValue(f.type(), r);
      return;
    }
    case Type::kArray:
    case Type::kMap: {
      DepthGuard guard(r);
      const bool is_map = node.type() == Type::kMap;
      const Node& item = is_map ? node.values() : node.items();
      const std::size_t min = item.min_encoded_size() + (is_map ? 1 : 0);
      std::size_t seen = 0;
      while (std::size_t n = r.ReadBlockCount(min, seen)) {
        seen += n;
        for (std::size_t i = 0; i < n; ++i) {
          if (is_map) r.ReadBytesView();
          SkipValue(item, r);
        }
      }
      return;
    }
    case Type::kUnion: {
      std::int64_t b = r.ReadLong();
      if (b < 0 || static_cast<std::uint64_t>(b) >= node.branches().size()) {
        r.Fail("union branch " + std::to_string(b) + " out of range");
      }
      SkipValue(*node.branches()[static_cast<std::size_t>(b)], r);
      return;
    }
  }
}

Datum Decode(const Schema& schema, std::string_view bytes, const DecodeLimits& limits) {
  BinaryReader r(bytes, limits);
  Datum d = Decode(schema.root(), r);
  if (!r.at_end()) r.Fail(std::to_string(r.remaining()) + " trailing bytes after the datum");
  return d;
}

}  // namespace sluice::avro
