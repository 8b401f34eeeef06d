#pragma once
// Rows on the wire: stages::Row <-> Confluent wire format (magic 0, big-endian int32 schema
// id, Avro binary), with schemas from a registry.
//
// - Encoding: RegisterOutput(topic, schema) registers the schema under "<topic>-value"
//   (TopicNameStrategy) once at start-up; Encode(topic, row) then writes the row with that
//   schema through the avro FlatRow fast path (no per-field allocation).
// - Decoding: the writer schema is fetched by the id in the frame and cached for the serde's
//   lifetime (ids never change meaning). When a reader schema is given and the writer's
//   differs, the bytes are resolved into the reader's shape (avro::Resolver: defaults for
//   new fields, promotions, skipped fields); when they are equal, FlatRow decodes directly.
// - Errors are split as docs/architecture.md, "Errors", says: a per-record problem (bad magic, too
//   short, unknown schema id, malformed Avro, a writer schema the reader can never read, a row that
//   does not fit the output schema) is a VALUE whose `error` is the DLQ reason, prefixed
//   "undecodable: " or "unencodable: "; the registry being unreachable is an exception
//   (core::InfraError, Retry::kYes) from the SchemaSource, which the caller retries.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/resolution.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/stages/row.hpp"

namespace sluice::runtime {

// Where a serde gets its schemas: the registry (RegistrySchemaSource, in
// registry_schema_source.hpp) or an in-memory table in tests. Implementations throw
// core::InfraError(Retry::kYes) when the store is unreachable, and say "unknown" by value.
class SchemaSource {
 public:
  virtual ~SchemaSource() = default;
  // Registers (or finds) the schema under the subject and returns its id. Throws
  // core::InfraError: kYes when unreachable, kNo when refused (e.g. incompatible).
  virtual std::int32_t Register(const std::string& subject, const std::string& schema_json) = 0;
  // The schema text of an id, or nullopt when the store does not know the id.
  virtual std::optional<std::string> SchemaText(std::int32_t id) = 0;
};

// A SchemaSource held in memory: ids from 1, one id per distinct canonical form (as a
// registry does). For unit tests and tools. Thread-safe.
class InMemorySchemaSource : public SchemaSource {
 public:
  std::int32_t Register(const std::string& subject, const std::string& schema_json) override;
  std::optional<std::string> SchemaText(std::int32_t id) override;
  // Adds a schema under an explicit id (to simulate another producer's registrations).
  void Put(std::int32_t id, const std::string& schema_json);
  // Subject -> ids registered under it, in order.
  std::map<std::string, std::vector<std::int32_t>> Subjects() const;

 private:
  mutable std::mutex mu_;
  std::map<std::int32_t, std::string> texts_;
  std::map<std::string, std::int32_t> by_canonical_;
  std::map<std::string, std::vector<std::int32_t>> subjects_;
  std::int32_t next_id_ = 1;
};

// Per-record result of Encode/Decode: a value, or the DLQ reason in `error`.
template <class T>
struct SerdeResult {
  std::optional<T> value;
  std::string error;  // "undecodable: ..." / "unencodable: ..." when !value
  explicit operator bool() const { return value.has_value(); }
};

// See the file comment. One per thread of use (caches are not locked); the SchemaSource must
// outlive it.
class RowSerde {
 public:
  explicit RowSerde(SchemaSource& source, avro::DecodeLimits limits = {});
  ~RowSerde();
  RowSerde(const RowSerde&) = delete;
  RowSerde& operator=(const RowSerde&) = delete;

  // Registers `schema` as the value schema of `topic` ("<topic>-value") and prepares encoding.
  // The schema must be a flat record (avro::FlatLayout): throws core::DataError otherwise.
  // Returns the registered id. Throws core::InfraError from the source.
  std::int32_t RegisterOutput(const std::string& topic, const avro::Schema& schema);
  // The id registered for the topic (RegisterOutput first: asserts).
  std::int32_t OutputId(const std::string& topic) const;

  // Wire bytes for `row` in the topic's schema. Fields are matched by name; a field missing
  // from the row is null; an int64 cell is accepted by a float/double field, and an integral
  // double by an int/long field. Anything that does not fit is an "unencodable: ..." error.
  SerdeResult<std::string> Encode(const std::string& topic, const stages::Row& row);

  // The row in `bytes` (wire format). With `reader` set, the row has the reader schema's
  // fields in its order (resolved from the writer's); without, the writer schema's fields.
  // Throws core::InfraError only when the SchemaSource does (registry unreachable).
  SerdeResult<stages::Row> Decode(std::string_view bytes, const avro::Schema* reader = nullptr);
  // The row in `bytes` in its writer schema's own flat layout (no per-field allocation once
  // `row` has grown; row.layout() is the writer's), and the writer id. The writer schema must
  // be a flat record (avro::FlatLayout), else an "undecodable: ..." error. Throws like Decode.
  SerdeResult<std::int32_t> DecodeFlat(std::string_view bytes, avro::FlatRow& row);
  // The writer id of the last successful Decode frame (for logs and headers); -1 before.
  std::int32_t LastWriterId() const { return last_writer_id_; }

 private:
  struct Output;
  struct Writer;
  struct Plan;
  const Writer* FindWriter(std::int32_t id, std::string* why);
  const Plan& PlanFor(const Writer& writer, const avro::Schema* reader);
  // The frame's writer id and decoding plan, or nullptr with the DLQ reason in *error.
  const Plan* FramePlan(std::string_view bytes, const avro::Schema* reader, std::int32_t* id,
                        std::string* error);

  SchemaSource& source_;
  avro::DecodeLimits limits_;
  std::map<std::string, std::unique_ptr<Output>> outputs_;
  std::map<std::int32_t, std::unique_ptr<Writer>> writers_;
  avro::FlatRow scratch_;
  avro::Schema last_reader_;
  std::uint64_t last_reader_fingerprint_ = 0;
  std::int32_t last_writer_id_ = -1;
};

// Row <-> FlatRow, exposed for the sink and tests. RowFromFlat: one cell per layout field,
// in layout order. FlatFromRow: see RowSerde::Encode for the matching rules; false + *why.
stages::Row RowFromFlat(const avro::FlatRow& flat);
bool FlatFromRow(const stages::Row& row, avro::FlatRow& flat, std::string* why);

}  // namespace sluice::runtime
