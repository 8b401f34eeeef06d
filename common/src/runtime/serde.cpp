#include "sluice/runtime/serde.hpp"

#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "sluice/core/error.hpp"

namespace sluice::runtime {
namespace {

constexpr std::size_t kWireHeaderSize = 5;

void AppendWireHeader(std::string& out, std::int32_t id) {
  auto u = static_cast<std::uint32_t>(id);
  out.push_back('\0');
  out.push_back(static_cast<char>((u >> 24) & 0xff));
  out.push_back(static_cast<char>((u >> 16) & 0xff));
  out.push_back(static_cast<char>((u >> 8) & 0xff));
  out.push_back(static_cast<char>(u & 0xff));
}

std::string KindName(avro::CellKind kind) {
  switch (kind) {
    case avro::CellKind::kNull: return "null";
    case avro::CellKind::kBool: return "boolean";
    case avro::CellKind::kLong: return "long";
    case avro::CellKind::kDouble: return "double";
    case avro::CellKind::kString: return "string";
  }
  return "?";
}

// One scalar datum (after resolution) as a row cell.
bool DatumToValue(const avro::Node& node, const avro::Datum& d, stages::Value* out,
                  std::string* why) {
  using avro::Datum;
  const auto& v = d.value();
  if (std::holds_alternative<avro::Null>(v)) {
    *out = stages::Null{};
  } else if (const bool* b = std::get_if<bool>(&v)) {
    *out = *b;
  } else if (const std::int32_t* i = std::get_if<std::int32_t>(&v)) {
    *out = static_cast<std::int64_t>(*i);
  } else if (const std::int64_t* l = std::get_if<std::int64_t>(&v)) {
    *out = *l;
  } else if (const float* f = std::get_if<float>(&v)) {
    *out = static_cast<double>(*f);
  } else if (const double* x = std::get_if<double>(&v)) {
    *out = *x;
  } else if (const avro::Bytes* by = std::get_if<avro::Bytes>(&v)) {
    *out = by->value;
  } else if (const std::string* s = std::get_if<std::string>(&v)) {
    *out = *s;
  } else if (const avro::Fixed* fx = std::get_if<avro::Fixed>(&v)) {
    *out = fx->value;
  } else if (const avro::EnumValue* e = std::get_if<avro::EnumValue>(&v)) {
    if (node.type() != avro::Type::kEnum || e->index >= node.symbols().size()) {
      *why = "enum index out of range";
      return false;
    }
    *out = node.symbols()[e->index];
  } else if (const avro::Union* u = std::get_if<avro::Union>(&v)) {
    if (node.type() != avro::Type::kUnion || u->branch >= node.branches().size()) {
      *why = "union branch out of range";
      return false;
    }
    return DatumToValue(*node.branches()[u->branch], u->value(), out, why);
  } else {
    *why = "not a scalar (record, array or map)";
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------- InMemorySchemaSource

std::int32_t InMemorySchemaSource::Register(const std::string& subject,
                                            const std::string& schema_json) {
  std::string canonical;
  try {
    canonical = avro::CanonicalForm(avro::ParseSchema(schema_json));
  } catch (const avro::SchemaParseError& e) {
    throw core::InfraError("register " + subject + ": invalid schema: " + e.what(),
                           core::Retry::kNo);
  }
  std::lock_guard lock(mu_);
  auto [it, inserted] = by_canonical_.emplace(canonical, next_id_);
  if (inserted) {
    texts_[next_id_] = schema_json;
    ++next_id_;
  }
  auto& ids = subjects_[subject];
  if (ids.empty() || ids.back() != it->second) ids.push_back(it->second);
  return it->second;
}

std::optional<std::string> InMemorySchemaSource::SchemaText(std::int32_t id) {
  std::lock_guard lock(mu_);
  auto it = texts_.find(id);
  if (it == texts_.end()) return std::nullopt;
  return it->second;
}

void InMemorySchemaSource::Put(std::int32_t id, const std::string& schema_json) {
  std::lock_guard lock(mu_);
  texts_[id] = schema_json;
  by_canonical_.emplace(avro::CanonicalForm(avro::ParseSchema(schema_json)), id);
  if (id >= next_id_) next_id_ = id + 1;
}

std::map<std::string, std::vector<std::int32_t>> InMemorySchemaSource::Subjects() const {
  std::lock_guard lock(mu_);
  return subjects_;
}

// ---------------------------------------------------------------- Row <-> FlatRow

stages::Row RowFromFlat(const avro::FlatRow& flat) {
  stages::Row row;
  const auto& fields = flat.layout()->fields();
  // Room for what a stage adds (derived fields, flags) without a reallocation; a layout's
  // names are unique, so each cell is appended without a search.
  row.Reserve(flat.size() + 8);
  for (std::size_t i = 0; i < flat.size(); ++i) {
    stages::Value v;
    switch (flat.kind(i)) {
      case avro::CellKind::kNull: v = stages::Null{}; break;
      case avro::CellKind::kBool: v = flat.GetBool(i); break;
      case avro::CellKind::kLong: v = flat.GetLong(i); break;
      case avro::CellKind::kDouble: v = flat.GetDouble(i); break;
      case avro::CellKind::kString: v = std::string(flat.GetString(i)); break;
    }
    row.Append(fields[i].name, std::move(v));
  }
  return row;
}

bool FlatFromRow(const stages::Row& row, avro::FlatRow& flat, std::string* why) {
  flat.Clear();
  const auto& fields = flat.layout()->fields();
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto& f = fields[i];
    // Rows are mostly in the layout's order: the cell at the same position is tried first.
    const stages::Value* v = i < row.size() && row.cells()[i].first == f.name
                                 ? &row.cells()[i].second
                                 : row.Find(f.name);
    if (v == nullptr || stages::IsNull(*v)) {
      if (!f.nullable) {
        *why = "field '" + f.name + "': null in a non-nullable " + KindName(f.kind) + " field";
        return false;
      }
      flat.SetNull(i);
      continue;
    }
    bool ok = true;
    switch (f.kind) {
      case avro::CellKind::kNull:
        ok = false;
        break;
      case avro::CellKind::kBool:
        if (const bool* b = std::get_if<bool>(v)) flat.SetBool(i, *b); else ok = false;
        break;
      case avro::CellKind::kLong:
        if (const auto* l = std::get_if<std::int64_t>(v)) {
          flat.SetLong(i, *l);
        } else if (const double* d = std::get_if<double>(v);
                   d != nullptr && std::isfinite(*d) && std::trunc(*d) == *d &&
                   std::fabs(*d) < 9.2e18) {
          flat.SetLong(i, static_cast<std::int64_t>(*d));
        } else {
          ok = false;
        }
        break;
      case avro::CellKind::kDouble:
        if (const double* d = std::get_if<double>(v)) {
          flat.SetDouble(i, *d);
        } else if (const auto* l = std::get_if<std::int64_t>(v)) {
          flat.SetDouble(i, static_cast<double>(*l));
        } else {
          ok = false;
        }
        break;
      case avro::CellKind::kString:
        if (const auto* s = std::get_if<std::string>(v)) flat.SetString(i, *s); else ok = false;
        break;
    }
    if (!ok) {
      *why = "field '" + f.name + "': expected " + KindName(f.kind) + ", got " +
             stages::Describe(*v);
      return false;
    }
  }
  return true;
}

// ---------------------------------------------------------------- RowSerde

struct RowSerde::Output {
  std::int32_t id = 0;
  std::shared_ptr<const avro::FlatLayout> layout;
  avro::FlatRow flat;
};

// A reading plan for one (writer, reader) pair.
struct RowSerde::Plan {
  std::string error;                                  // set: every record fails with it
  std::shared_ptr<const avro::FlatLayout> flat;       // set: direct flat decode
  std::optional<avro::Resolver> resolver;             // set: resolve, then convert
  avro::Schema shape;                                 // the schema whose fields the row has
};

struct RowSerde::Writer {
  std::int32_t id = 0;
  std::string error;  // the schema text could not be parsed
  avro::Schema schema;
  std::uint64_t fingerprint = 0;
  std::unique_ptr<Plan> own;                          // reader == writer (or no reader)
  std::map<std::uint64_t, std::unique_ptr<Plan>> by_reader;  // reader fingerprint
};

RowSerde::RowSerde(SchemaSource& source, avro::DecodeLimits limits)
    : source_(source), limits_(limits) {}
RowSerde::~RowSerde() = default;

std::int32_t RowSerde::RegisterOutput(const std::string& topic, const avro::Schema& schema) {
  auto out = std::make_unique<Output>();
  out->layout = avro::FlatLayout::Compile(schema);  // throws DataError when not flat
  out->flat.Reset(out->layout);
  out->id = source_.Register(topic + "-value", avro::ToJson(schema).dump());
  std::int32_t id = out->id;
  outputs_[topic] = std::move(out);
  return id;
}

std::int32_t RowSerde::OutputId(const std::string& topic) const {
  auto it = outputs_.find(topic);
  SLUICE_ASSERT(it != outputs_.end(), "RowSerde::OutputId before RegisterOutput");
  return it->second->id;
}

SerdeResult<std::string> RowSerde::Encode(const std::string& topic, const stages::Row& row) {
  auto it = outputs_.find(topic);
  SLUICE_ASSERT(it != outputs_.end(), "RowSerde::Encode before RegisterOutput");
  Output& out = *it->second;
  SerdeResult<std::string> result;
  std::string why;
  if (!FlatFromRow(row, out.flat, &why)) {
    result.error = "unencodable: " + why;
    return result;
  }
  std::string bytes;
  bytes.reserve(kWireHeaderSize + 16 * out.flat.size());
  AppendWireHeader(bytes, out.id);
  try {
    avro::EncodeFlat(out.flat, bytes);
  } catch (const avro::EncodeError& e) {
    result.error = std::string("unencodable: ") + e.what();
    return result;
  }
  result.value = std::move(bytes);
  return result;
}

const RowSerde::Writer* RowSerde::FindWriter(std::int32_t id, std::string* why) {
  auto it = writers_.find(id);
  if (it == writers_.end()) {
    std::optional<std::string> text = source_.SchemaText(id);  // InfraError propagates
    if (!text) {
      // Not cached: the id may be registered later by a producer we raced with.
      *why = "unknown schema id " + std::to_string(id);
      return nullptr;
    }
    auto w = std::make_unique<Writer>();
    w->id = id;
    try {
      w->schema = avro::ParseSchema(*text);
      w->fingerprint = avro::Fingerprint64(w->schema);
    } catch (const avro::SchemaParseError& e) {
      w->error = "schema id " + std::to_string(id) + " does not parse: " + e.what();
    }
    it = writers_.emplace(id, std::move(w)).first;
  }
  if (!it->second->error.empty()) {
    *why = it->second->error;
    return nullptr;
  }
  return it->second.get();
}

const RowSerde::Plan& RowSerde::PlanFor(const Writer& writer, const avro::Schema* reader) {
  auto& w = const_cast<Writer&>(writer);
  std::unique_ptr<Plan>* slot = nullptr;
  if (reader != nullptr && !reader->SameAs(last_reader_)) {
    last_reader_ = *reader;  // fingerprinting per record would cost a canonical form each
    last_reader_fingerprint_ = avro::Fingerprint64(*reader);
  }
  if (reader == nullptr || last_reader_fingerprint_ == w.fingerprint) {
    slot = &w.own;
  } else {
    slot = &w.by_reader[last_reader_fingerprint_];
  }
  if (*slot) return **slot;
  auto plan = std::make_unique<Plan>();
  const std::string writer_name = "writer schema id " + std::to_string(w.id);
  if (slot == &w.own) {
    plan->shape = w.schema;
    if (auto not_flat = avro::FlatLayout::WhyNotFlat(w.schema)) {
      plan->error = writer_name + " is not a flat record: " + *not_flat;
    } else {
      plan->flat = avro::FlatLayout::Compile(w.schema);
    }
  } else {
    plan->shape = *reader;
    if (reader->root().type() != avro::Type::kRecord) {
      plan->error = "reader schema is not a record";
    } else {
      try {
        plan->resolver = avro::Resolver::Build(w.schema, *reader);
      } catch (const avro::ResolutionError& e) {
        plan->error = writer_name + " cannot be read as the expected schema: " +
                      e.path() + ": " + e.reason();
      }
    }
  }
  *slot = std::move(plan);
  return **slot;
}

const RowSerde::Plan* RowSerde::FramePlan(std::string_view bytes, const avro::Schema* reader,
                                          std::int32_t* id, std::string* error) {
  if (bytes.size() < kWireHeaderSize) {
    *error = "undecodable: " + std::to_string(bytes.size()) +
             " bytes, shorter than the 5-byte wire-format header";
    return nullptr;
  }
  if (bytes[0] != '\0') {
    *error = "undecodable: magic byte " + std::to_string(static_cast<unsigned char>(bytes[0])) +
             ", expected 0";
    return nullptr;
  }
  std::uint32_t u = 0;
  for (int i = 1; i <= 4; ++i) u = (u << 8) | static_cast<unsigned char>(bytes[i]);
  *id = static_cast<std::int32_t>(u);
  std::string why;
  const Writer* writer = FindWriter(*id, &why);
  if (writer == nullptr) {
    *error = "undecodable: " + why;
    return nullptr;
  }
  const Plan& plan = PlanFor(*writer, reader);
  if (!plan.error.empty()) {
    *error = "undecodable: " + plan.error;
    return nullptr;
  }
  return &plan;
}

SerdeResult<std::int32_t> RowSerde::DecodeFlat(std::string_view bytes, avro::FlatRow& row) {
  SerdeResult<std::int32_t> result;
  std::int32_t id = -1;
  const Plan* plan = FramePlan(bytes, nullptr, &id, &result.error);
  if (plan == nullptr) return result;
  try {
    avro::DecodeFlat(plan->flat, bytes.substr(kWireHeaderSize), row, limits_);
  } catch (const avro::DecodeError& e) {
    result.error = "undecodable: schema id " + std::to_string(id) + ": " + e.what();
    return result;
  }
  last_writer_id_ = id;
  result.value = id;
  return result;
}

SerdeResult<stages::Row> RowSerde::Decode(std::string_view bytes, const avro::Schema* reader) {
  SerdeResult<stages::Row> result;
  std::int32_t id = -1;
  const Plan* found = FramePlan(bytes, reader, &id, &result.error);
  if (found == nullptr) return result;
  const Plan& plan = *found;
  std::string why;
  std::string_view payload = bytes.substr(kWireHeaderSize);
  try {
    if (plan.flat) {
      avro::DecodeFlat(plan.flat, payload, scratch_, limits_);
      result.value = RowFromFlat(scratch_);
    } else {
      avro::Datum d = avro::Decode(*plan.resolver, payload, limits_);
      const avro::Node& root = plan.shape.root();
      const auto& rec = d.as<avro::Record>();
      stages::Row row;
      for (std::size_t i = 0; i < root.fields().size() && i < rec.fields.size(); ++i) {
        const auto& f = root.fields()[i];
        stages::Value v;
        if (!DatumToValue(f.type(), rec.fields[i], &v, &why)) {
          result.error = "undecodable: field '" + f.name() + "': " + why;
          return result;
        }
        row.Set(f.name(), std::move(v));
      }
      result.value = std::move(row);
    }
  } catch (const avro::DecodeError& e) {
    result.error = "undecodable: schema id " + std::to_string(id) + ": " + e.what();
    return result;
  }
  last_writer_id_ = id;
  return result;
}

}  // namespace sluice::runtime
