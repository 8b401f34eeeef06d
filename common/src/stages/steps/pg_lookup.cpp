// pg_lookup: joins a PostgreSQL table, cached in memory and re-read on an interval.
#include <memory>

#include "step.hpp"

namespace sluice::stages::steps {
namespace {

class PgLookup final : public Step {
 public:
  PgLookup(const ComponentInput& in, const EnricherDeps& deps)
      : Step(in),
        table_(in.options.String("table")),
        key_(in.options.String("key")),
        column_(in.options.OptionalString("column").value_or(key_)),
        reject_missing_(in.options.String("missing") == "reject") {
    std::vector<std::string> columns;
    for (const auto& [column, field] : in.options.StringMap("fields")) {
      fields_.emplace_back(column, field);
      columns.push_back(column);
    }
    if (fields_.empty()) in.Fail("fields", "expected a map of table column: output field");
    if (!deps.table_loader) in.Fail("", "no table loader available for pg_lookup");
    table_cache_ = std::make_unique<LookupTable>(column_, in.options.Duration("refresh"),
                                                 deps.table_loader(table_, column_, columns));
  }

  bool Apply(Row& row, SteadyTime now, EnrichResult&, std::string* reason) override {
    const Value& k = row.Get(key_);
    const Row* hit = IsNull(k) ? nullptr : table_cache_->Find(AsText(k), now);
    if (!hit && reject_missing_) {
      *reason = key_ + ": " + Describe(k) + " not found in " + table_;
      return false;
    }
    for (const auto& [column, field] : fields_) row.Set(field, hit ? hit->Get(column) : Value{Null{}});
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{key_, "key", FieldAccess::kRead}};
    for (const auto& [column, field] : fields_) uses.push_back({field, "fields." + column, FieldAccess::kWrite});
    return uses;
  }

 private:
  std::string table_, key_, column_;
  std::vector<std::pair<std::string, std::string>> fields_;
  bool reject_missing_ = false;
  std::unique_ptr<LookupTable> table_cache_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareStepName(s, "states");
  s.Add("table", T::kString).Required().Describe("Table or view, optionally schema-qualified").Example("ref.us_states");
  s.Add("key", T::kString).Required().Describe("Record field used to look up").Example("addr_state");
  s.Add("column", T::kString).DefaultDoc("same as key").Describe("Table column matched against the key").Example("code");
  s.Add("fields", T::kMap).Required().Describe("Table column -> output field").Example("{name: state_name, region: region}");
  s.Add("refresh", T::kDuration).Default("5m").Describe("How often the table is re-read").Example("1h");
  s.Add("missing", T::kEnum).Allowed({"null", "reject"}).Default("'null'").Describe("When the key is not in the table: null leaves the fields null, reject sends the record to the DLQ").Example("reject");
}

}  // namespace

StepType PgLookupStep() {
  return {"pg_lookup", "Join a PostgreSQL table, cached in memory and refreshed on an interval", Declare,
          {"{name: states, table: ref.us_states, key: addr_state, column: code, fields: {name: state_name}, refresh: 1h, missing: reject}"},
          [](const ComponentInput& in, const EnricherDeps& deps) { return std::make_shared<PgLookup>(in, deps); }};
}

}  // namespace sluice::stages::steps
