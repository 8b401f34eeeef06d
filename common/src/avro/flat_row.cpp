// Flat record fast path: compiled layout, decode into reusable cells, encode from cells.
#include "sluice/avro/flat_row.hpp"

#include <limits>

namespace sluice::avro {

namespace {

std::optional<CellKind> ScalarKind(const Node& n) {
  switch (n.type()) {
    case Type::kNull: return CellKind::kNull;
    case Type::kBoolean: return CellKind::kBool;
    case Type::kInt:
    case Type::kLong: return CellKind::kLong;
    case Type::kFloat:
    case Type::kDouble: return CellKind::kDouble;
    case Type::kBytes:
    case Type::kString:
    case Type::kFixed:
    case Type::kEnum: return CellKind::kString;
    default: return std::nullopt;
  }
}

// Fills `out` for field f, or returns why the field cannot be flat.
std::optional<std::string> CompileField(const Field& f, FlatField& out) {
  out.name = f.name();
  const Node* n = &f.type();
  if (n->type() == Type::kUnion) {
    const auto& b = n->branches();
    if (b.size() != 2 || (b[0]->type() != Type::kNull && b[1]->type() != Type::kNull)) {
      return "field " + f.name() + " is a union other than [\"null\", T]";
    }
    out.nullable = true;
    out.null_branch = b[0]->type() == Type::kNull ? 0 : 1;
    n = b[out.null_branch == 0 ? 1 : 0];
  }
  auto kind = ScalarKind(*n);
  if (!kind) return "field " + f.name() + " has non-scalar type " + std::string(TypeName(n->type()));
  out.node = n;
  out.type = n->type();
  out.logical = n->logical_type();
  out.kind = *kind;
  return std::nullopt;
}

[[noreturn]] void BadCell(const FlatField& f, const char* why) {
  throw EncodeError("field " + f.name + ": " + why);
}

}  // namespace

std::optional<std::string> FlatLayout::WhyNotFlat(const Schema& schema) {
  if (schema.root().type() != Type::kRecord) return std::string("the schema is not a record");
  for (const Field& f : schema.root().fields()) {
    FlatField ff;
    if (auto why = CompileField(f, ff)) return why;
  }
  return std::nullopt;
}

std::shared_ptr<const FlatLayout> FlatLayout::Compile(const Schema& schema) {
  auto layout = std::make_shared<FlatLayout>();
  layout->schema_ = schema;
  if (schema.root().type() != Type::kRecord) {
    throw core::DataError("schema is not flat: the schema is not a record");
  }
  for (const Field& f : schema.root().fields()) {
    FlatField ff;
    if (auto why = CompileField(f, ff)) throw core::DataError("schema is not flat: " + *why);
    layout->fields_.push_back(std::move(ff));
  }
  return layout;
}

std::optional<std::size_t> FlatLayout::FieldIndex(std::string_view name) const {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return i;
  }
  return std::nullopt;
}

void FlatRow::Reset(std::shared_ptr<const FlatLayout> layout) {
  layout_ = std::move(layout);
  cells_.assign(layout_ ? layout_->size() : 0, FlatCell{});
  arena_.clear();
}

void FlatRow::Clear() {
  for (FlatCell& c : cells_) c.kind = CellKind::kNull;
  arena_.clear();
}

void FlatRow::SetString(std::size_t i, std::string_view v) {
  if (arena_.size() + v.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw core::DataError("flat row strings exceed 4 GiB");
  }
  FlatCell& c = cells_[i];
  c.kind = CellKind::kString;
  c.str_offset = static_cast<std::uint32_t>(arena_.size());
  c.str_size = static_cast<std::uint32_t>(v.size());
  arena_.append(v);
}

void DecodeFlat(const std::shared_ptr<const FlatLayout>& layout, std::string_view bytes,
                FlatRow& row, const DecodeLimits& limits) {
  if (row.layout() != layout.get()) row.Reset(layout);
  row.DecodeBound(bytes, limits);
}

void FlatRow::DecodeBound(std::string_view bytes, const DecodeLimits& limits) {
  const auto& fields = layout_->fields();
  cells_.resize(fields.size());
  arena_.clear();
  BinaryReader r(bytes, limits);
  for (std::size_t k = 0; k < fields.size(); ++k) {
    const FlatField& f = fields[k];
    FlatCell& c = cells_[k];
    if (f.nullable) {
      std::int64_t b = r.ReadLong();
      if (b == f.null_branch) {
        c.kind = CellKind::kNull;
        continue;
      }
      if (b != 1 - f.null_branch) r.Fail("union branch " + std::to_string(b) + " out of range");
    }
    switch (f.type) {
      case Type::kNull: c.kind = CellKind::kNull; break;
      case Type::kBoolean:
        c.kind = CellKind::kBool;
        c.b = r.ReadBoolean();
        break;
      case Type::kInt:
        c.kind = CellKind::kLong;
        c.i = r.ReadInt();
        break;
      case Type::kLong:
        c.kind = CellKind::kLong;
        c.i = r.ReadLong();
        break;
      case Type::kFloat:
        c.kind = CellKind::kDouble;
        c.d = r.ReadFloat();
        break;
      case Type::kDouble:
        c.kind = CellKind::kDouble;
        c.d = r.ReadDouble();
        break;
      case Type::kBytes:
      case Type::kString:
        SetString(k, r.ReadBytesView());
        break;
      case Type::kFixed: SetString(k, r.ReadFixedView(f.node->fixed_size())); break;
      case Type::kEnum: {
        std::int64_t i = r.ReadLong();
        const auto& symbols = f.node->symbols();
        if (i < 0 || static_cast<std::uint64_t>(i) >= symbols.size()) {
          r.Fail("enum index " + std::to_string(i) + " out of range");
        }
        SetString(k, symbols[static_cast<std::size_t>(i)]);
        break;
      }
      default: r.Fail("field type not flat");
    }
  }
  if (!r.at_end()) r.Fail(std::to_string(r.remaining()) + " trailing bytes after the record");
}

void DecodeFlat(const Schema& schema, std::string_view bytes, FlatRow& row,
                const DecodeLimits& limits) {
  if (row.layout() == nullptr || !row.layout()->schema().SameAs(schema)) {
    row.Reset(FlatLayout::Compile(schema));
  }
  row.DecodeBound(bytes, limits);
}

void EncodeFlat(const FlatRow& row, std::string& out) {
  const FlatLayout* layout = row.layout();
  if (layout == nullptr) throw EncodeError("flat row has no layout");
  BinaryWriter w(out);
  const auto& fields = layout->fields();
  for (std::size_t k = 0; k < fields.size(); ++k) {
    const FlatField& f = fields[k];
    const FlatCell& c = row.cell(k);
    auto bad = [&f](const char* why) { BadCell(f, why); };
    if (c.kind == CellKind::kNull) {
      if (f.nullable) {
        w.WriteLong(f.null_branch);
        continue;
      }
      if (f.type == Type::kNull) continue;
      bad("null in a non-nullable field");
    }
    if (f.nullable) w.WriteLong(1 - f.null_branch);
    switch (f.type) {
      case Type::kNull: BadCell(f, "value in a null field");
      case Type::kBoolean:
        if (c.kind != CellKind::kBool) bad("expected a boolean cell");
        w.WriteBoolean(c.b);
        break;
      case Type::kInt:
        if (c.kind != CellKind::kLong) bad("expected an integer cell");
        if (c.i < std::numeric_limits<std::int32_t>::min() || c.i > std::numeric_limits<std::int32_t>::max()) {
          bad("value out of int range");
        }
        w.WriteInt(static_cast<std::int32_t>(c.i));
        break;
      case Type::kLong:
        if (c.kind != CellKind::kLong) bad("expected an integer cell");
        w.WriteLong(c.i);
        break;
      case Type::kFloat:
      case Type::kDouble: {
        double v = 0;
        if (c.kind == CellKind::kDouble) v = c.d;
        else if (c.kind == CellKind::kLong) v = static_cast<double>(c.i);
        else bad("expected a number cell");
        if (f.type == Type::kFloat) w.WriteFloat(static_cast<float>(v));
        else w.WriteDouble(v);
        break;
      }
      case Type::kBytes:
      case Type::kString:
        if (c.kind != CellKind::kString) bad("expected a string cell");
        w.WriteBytes(row.GetString(k));
        break;
      case Type::kFixed:
        if (c.kind != CellKind::kString) bad("expected a string cell");
        if (c.str_size != f.node->fixed_size()) bad("fixed value of the wrong size");
        w.WriteFixed(row.GetString(k));
        break;
      case Type::kEnum: {
        if (c.kind != CellKind::kString) bad("expected a symbol cell");
        auto i = f.node->SymbolIndex(row.GetString(k));
        if (!i) bad("unknown enum symbol");
        w.WriteLong(static_cast<std::int64_t>(*i));
        break;
      }
      default: bad("field type not flat");
    }
  }
}

}  // namespace sluice::avro
