#pragma once
// Schema compatibility: can a reader schema always decode data written with a writer schema,
// and the seven subject-level compatibility levels of the Confluent Schema Registry.
//
// CheckCompatibility follows Java Avro's SchemaCompatibility (what Confluent's registry
// runs): the same six incompatibility types, the same JSON-pointer locations and the same
// detail messages, so `?verbose=true` answers read like Confluent's. Two deliberate
// differences, both documented in avro/README.md: each incompatibility is reported once
// (Java repeats memoized ones), and decimals are checked (by default) with the resolver's
// rule, so the registry never accepts a schema whose data our resolver would refuse or
// silently rescale. Every schema the checker accepts, Resolver::Build accepts too.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "sluice/avro/schema.hpp"

namespace sluice::avro {

// Why a reader cannot read a writer (Java Avro's SchemaIncompatibilityType).
enum class IncompatibilityType {
  kNameMismatch,
  kFixedSizeMismatch,
  kMissingEnumSymbols,
  kReaderFieldMissingDefaultValue,
  kTypeMismatch,
  kMissingUnionBranch,
};

// "NAME_MISMATCH", "READER_FIELD_MISSING_DEFAULT_VALUE", ...
std::string_view IncompatibilityTypeName(IncompatibilityType type);
std::optional<IncompatibilityType> ParseIncompatibilityType(std::string_view name);

// One reason the reader cannot read the writer.
struct Incompatibility {
  IncompatibilityType type = IncompatibilityType::kTypeMismatch;
  // JSON pointer into the reader schema where the problem sits ("/fields/2/type", "/" for
  // the root); a writer union branch adds its index ("/fields/0/type/1").
  std::string path;
  // Java Avro's detail ("reader type: INT not compatible with writer type: STRING", the
  // field name, "[C, D]", "expected: 16, found: 8", "expected: ns.Name", ...).
  std::string message;
  nlohmann::json reader_fragment;  // the reader schema node that failed (full JSON form)
  nlohmann::json writer_fragment;  // the writer schema node it was compared with
};

struct CompatibilityOptions {
  // Decimals: the scale must be equal and the reader precision at least the writer's
  // (TYPE_MISMATCH otherwise). false: logical types are ignored, exactly as Java Avro and
  // Confluent do.
  bool check_decimals = true;
};

// Empty when `reader` can decode everything written with `writer`.
std::vector<Incompatibility> CheckCompatibility(const Schema& reader, const Schema& writer,
                                                const CompatibilityOptions& options = {});

// The Confluent Schema Registry compatibility levels.
enum class CompatibilityLevel {
  kNone,
  kBackward,
  kBackwardTransitive,
  kForward,
  kForwardTransitive,
  kFull,
  kFullTransitive,
};

// "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", ...
std::string_view CompatibilityLevelName(CompatibilityLevel level);
// Accepts the names above (case-insensitive, as Confluent does); nullopt otherwise.
std::optional<CompatibilityLevel> ParseCompatibilityLevel(std::string_view name);

// Which way a pair was checked: BACKWARD reads old data with the new schema, FORWARD reads
// new data with an old schema.
enum class Direction {
  kNewReadsOld,  // reader = new schema, writer = existing schema
  kOldReadsNew,  // reader = existing schema, writer = new schema
};

// The incompatibilities found between the new schema and one existing schema.
struct PairReport {
  std::size_t existing_index = 0;  // position in `existing` (0 = oldest)
  Direction direction = Direction::kNewReadsOld;
  std::vector<Incompatibility> incompatibilities;
};

// Outcome of a level check. compatible == failures.empty().
struct LevelReport {
  bool compatible = true;
  // Newest existing schema first, backward before forward for the same schema.
  std::vector<PairReport> failures;
};

// Checks `new_schema` against the subject's existing schemas (oldest first, newest last)
// at `level`. Non-transitive levels compare with the newest only; transitive ones with all.
// NONE, or no existing schema, is always compatible.
LevelReport CheckLevel(CompatibilityLevel level, const Schema& new_schema,
                       const std::vector<Schema>& existing,
                       const CompatibilityOptions& options = {});

// One incompatibility in Confluent's verbose wording:
// {errorType:'READER_FIELD_MISSING_DEFAULT_VALUE', description:'The field 'x' at path
// '/fields/1' in the new schema has no default value and is missing in the old schema',
// additionalInfo:'x'}
std::string ConfluentMessage(const Incompatibility& incompatibility, Direction direction);

}  // namespace sluice::avro
