#pragma once
// Checks the field names of a validated pipeline file against its Avro schemas, so a typo is
// found by --check (every daemon runs it) rather than by the first record. The option specs
// in sluice::config check the file's shape; this reads the .avsc files and builds the
// cleaner and the enricher (without reaching PostgreSQL or HTTP) to learn which fields each
// rule and step reads and writes. Records flow raw -> clean -> enriched, so:
//   - producer: key, id.field, id.from and the csv `columns` / http and kafka_json `fields`
//     targets must be fields of the raw schema;
//   - cleaner rules (in order) read the raw record: a field a rule reads or updates must be
//     in the raw schema or written by an earlier rule (synthetic_date, impute); a field a
//     rule writes must be in the clean schema or read by a later rule, else it is lost when
//     the record is typed into the clean schema;
//   - enricher steps: the same against the clean schema (input) and the enriched schema
//     (output); pg_lookup and derive outputs and http_lookup fields are writes;
//   - sink.key must be fields of the enriched schema.
// A schema that is not set (e.g. a registry-only file) skips the checks that need it.
#include <vector>

#include "sluice/config/issue.hpp"
#include "sluice/pipeline/pipeline_config.hpp"

namespace sluice::pipeline {

// Every problem found, each located at the option naming the field; empty when all is well.
std::vector<config::Issue> CheckPipelineFields(const pipeline::PipelineConfig& config);

}  // namespace sluice::pipeline
