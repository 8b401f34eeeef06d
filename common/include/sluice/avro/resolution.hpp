#pragma once
// Avro schema resolution: decode bytes written with one schema into the shape of another.
//
// A Resolver is a plan built once per (writer, reader) pair and reused for every record:
// which writer fields to read or skip, where each lands in the reader record, which
// defaults fill the reader fields the writer lacks, which promotions apply, how enum
// symbols and union branches map. Building it fails (ResolutionError, with a JSON-pointer
// path and a reason) when no datum of the writer could ever be read; problems that only
// some data can hit (a writer enum symbol the reader lacks and has no default for, a
// writer union branch the reader cannot take) become decode-time errors for just the
// records that carry them, as the Avro specification and Java Avro do.
//
// Rules (Avro 1.11 "Schema Resolution", with the choices documented in avro/README.md):
//  - named types match by full name, by a reader alias of the writer's full name, or by
//    the unqualified name (the specification's rule);
//  - record fields match by name, then by reader field aliases; writer-only fields are
//    skipped; reader-only fields take their default (no default: the plan fails);
//  - promotions int→long→float→double, long→float/double, float→double, string↔bytes;
//  - a reader union takes the first branch that resolves, exact type (and name) first,
//    then a promotion; a writer union resolves each branch separately;
//  - decimals: scales must be equal and the reader's precision at least the writer's
//    (other logical types are ignored, as the specification says).
// Recursive types are resolved once per (writer node, reader node) pair.
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/avro/codec.hpp"
#include "sluice/avro/datum.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/core/error.hpp"

namespace sluice::avro {

// The writer schema can never be read with the reader schema. path() is a JSON pointer
// into the reader schema ("/fields/2/type"; "" for the root); reason() says why.
class ResolutionError : public core::DataError {
 public:
  ResolutionError(std::string path, std::string reason);
  const std::string& path() const noexcept { return path_; }
  const std::string& reason() const noexcept { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

// True when a writer value of type `writer` can be read as `reader` by promotion
// (int→long/float/double, long→float/double, float→double, string↔bytes). Same type: false.
bool IsPromotable(Type writer, Type reader);

// When both nodes are decimals whose values would change meaning if read one as the other
// (different scales, or a reader precision below the writer's), the reason; else "".
std::string DecimalMismatch(const Node& writer, const Node& reader);

namespace detail {
struct ResolverPlan;
}

// A resolution plan for one (writer, reader) schema pair. Built once (Build), immutable
// afterwards and safe to use from many threads at once; keeps both schemas alive.
class Resolver {
 public:
  // Throws ResolutionError when the writer's data can never be read by the reader.
  static Resolver Build(const Schema& writer, const Schema& reader);

  const Schema& writer() const;
  const Schema& reader() const;
  // True when both schemas have the same Parsing Canonical Form, so decoding is the plain
  // codec (no field moves, no promotions).
  bool is_identity() const;

 private:
  friend Datum Decode(const Resolver& resolver, BinaryReader& in);
  explicit Resolver(std::shared_ptr<const detail::ResolverPlan> plan) : plan_(std::move(plan)) {}
  std::shared_ptr<const detail::ResolverPlan> plan_;
};

// Decodes exactly `writer_bytes` (written with resolver.writer()) into a datum shaped by
// resolver.reader(). Throws DecodeError for malformed bytes (every length is checked, depth
// and collection sizes capped by `limits`), for trailing bytes, and for data the plan
// cannot map (an unknown enum symbol with no reader default, an unresolvable union branch).
Datum Decode(const Resolver& resolver, std::string_view writer_bytes,
             const DecodeLimits& limits = DecodeLimits{});
// Decodes one value from `in`, leaving any bytes after it.
Datum Decode(const Resolver& resolver, BinaryReader& in);

}  // namespace sluice::avro
