// The loans .avsc files: parsed by our Avro library, flat (the stages' fast path), agreeing
// with the RecordSpec the stages read, and v2 a compatible evolution of v1.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "sluice/avro/compatibility.hpp"
#include "sluice/avro/flat_row.hpp"
#include "sluice/avro/schema.hpp"
#include "sluice/stages/row.hpp"

using namespace sluice;

namespace {

std::string Path(const std::string& name) { return std::string(SLUICE_SOURCE_DIR) + "/pipelines/loans/schemas/" + name; }

// As the daemons read them: through stages::LoadAvsc ("sluice.extends" resolved).
avro::Schema Parse(const std::string& name) { return avro::ParseSchema(stages::LoadAvsc(Path(name))); }

}  // namespace

TEST_CASE("loan schemas: parse, are flat, and match the stages' field lists") {
  for (const char* name : {"loans.raw.v1.avsc", "loans.clean.v1.avsc", "loans.clean.v2.avsc",
                           "loans.enriched.v1.avsc", "loans.enriched.v2.avsc"}) {
    INFO(name);
    const avro::Schema schema = Parse(name);
    CHECK(!avro::FlatLayout::WhyNotFlat(schema));
    const auto layout = avro::FlatLayout::Compile(schema);
    const stages::RecordSpec spec = stages::LoadRecordSpec(Path(name));
    REQUIRE(layout->size() == spec.fields.size());
    for (std::size_t i = 0; i < spec.fields.size(); ++i) {
      CHECK(layout->fields()[i].name == spec.fields[i].name);
      CHECK(layout->fields()[i].nullable == spec.fields[i].nullable);
    }
  }
  const auto clean = stages::LoadRecordSpec(Path("loans.clean.v1.avsc"));
  CHECK(clean.Find("issue_date")->type == stages::FieldType::kDate);
  CHECK(clean.Find("term")->type == stages::FieldType::kInt);
  CHECK(clean.Find("emp_length")->nullable);
  CHECK(stages::LoadRecordSpec(Path("loans.clean.v2.avsc")).Find("currency")->default_value ==
        stages::Value{std::string("USD")});
}

TEST_CASE("loan schemas: v2 adds a field with a default, compatible both ways with v1") {
  for (const auto& [v1, v2] : {std::pair{"loans.clean.v1.avsc", "loans.clean.v2.avsc"},
                               std::pair{"loans.enriched.v1.avsc", "loans.enriched.v2.avsc"}}) {
    INFO(v2);
    const auto report = avro::CheckLevel(avro::CompatibilityLevel::kFull, Parse(v2), {Parse(v1)});
    CHECK(report.compatible);
  }
  // And the check can fail: the raw schema cannot replace the clean one.
  CHECK(!avro::CheckLevel(avro::CompatibilityLevel::kBackward, Parse("loans.raw.v1.avsc"),
                          {Parse("loans.clean.v1.avsc")}).compatible);
}
