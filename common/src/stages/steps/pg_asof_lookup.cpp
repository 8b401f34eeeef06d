// pg_asof_lookup: joins the version of a slowly changing (SCD-2) PostgreSQL table valid at the
// record's time - an event-time temporal join whose watermark is the table's horizon
// (VersionedTable, enricher.hpp). Every record gets the status field: confirmed, unconfirmed
// (its time was beyond the horizon when the wait ran out) or missing (no version at its time).
#include <memory>
#include <thread>

#include "step.hpp"

namespace sluice::stages::steps {
namespace {

class PgAsofLookup final : public Step {
 public:
  PgAsofLookup(const ComponentInput& in, const EnricherDeps& deps)
      : Step(in),
        key_(in.options.String("key")),
        time_(in.options.String("time")),
        status_(in.options.String("status")),
        wait_until_(deps.wait_until) {
    EnricherDeps::VersionedQuery q;
    q.table = in.options.String("table");
    q.key_column = in.options.OptionalString("column").value_or(key_);
    q.valid_from_column = in.options.String("valid_from");
    q.horizon_query = in.options.String("horizon_query");
    for (const auto& [column, field] : in.options.StringMap("fields")) {
      fields_.emplace_back(column, field);
      q.columns.push_back(column);
    }
    if (fields_.empty()) in.Fail("fields", "expected a map of table column: output field");
    for (const auto& [column, field] : fields_) {
      if (field == status_) in.Fail("status", "'" + status_ + "' is also an output of fields." + column);
    }
    VersionedTable::Settings settings;
    settings.refresh = in.options.Duration("refresh");
    settings.wait = in.options.Duration("wait");
    if (settings.refresh.count() <= 0) in.Fail("refresh", "must be > 0");
    if (settings.wait.count() < 0) in.Fail("wait", "must not be negative");
    if (!deps.versioned_loader) in.Fail("", "no table loader available for pg_asof_lookup");
    if (!wait_until_) {
      wait_until_ = [](SteadyTime until) {
        std::this_thread::sleep_until(until);
        return std::chrono::steady_clock::now();
      };
    }
    table_ = std::make_unique<VersionedTable>(settings, deps.versioned_loader(q));
  }

  bool Apply(Row& row, SteadyTime now, EnrichResult&, std::string* reason) override {
    const Value& k = row.Get(key_);
    const Value& t = row.Get(time_);
    VersionedTable::Decision d;  // null key or time: nothing to join (missing)
    if (!IsNull(k) && !IsNull(t)) {
      const auto t_ms = TimeOf(t);
      if (!t_ms) {
        *reason = time_ + ": " + Describe(t) + " is not a timestamp";
        return false;
      }
      const std::string key = AsText(k);
      for (d = table_->Resolve(key, *t_ms, now); d.wait; d = table_->Resolve(key, *t_ms, now)) {
        now = wait_until_(d.retry_at);
      }
    }
    for (const auto& [column, field] : fields_) row.Set(field, d.version ? d.version->Get(column) : Value{Null{}});
    row.Set(status_, std::string(VersionedTable::StatusName(d.status)));
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses{{key_, "key", FieldAccess::kRead}, {time_, "time", FieldAccess::kRead}};
    for (const auto& [column, field] : fields_) uses.push_back({field, "fields." + column, FieldAccess::kWrite});
    uses.push_back({status_, "status", FieldAccess::kWrite});
    return uses;
  }

 private:
  // Milliseconds since the epoch: a timestamp (long) as the cleaner emits it, or its text.
  static std::optional<std::int64_t> TimeOf(const Value& v) {
    if (const auto* n = std::get_if<std::int64_t>(&v)) return *n;
    if (const auto* s = std::get_if<std::string>(&v)) {
      std::string_view text = Trim(*s);
      if (!text.empty() && (text.back() == 'Z' || text.back() == 'z')) text.remove_suffix(1);
      for (const char* f : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"}) {
        if (auto ms = ParseDateTime(text, f)) return ms;
      }
    }
    return std::nullopt;
  }

  std::string key_, time_, status_;
  std::vector<std::pair<std::string, std::string>> fields_;
  std::function<SteadyTime(SteadyTime)> wait_until_;
  std::unique_ptr<VersionedTable> table_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareStepName(s, "unit");
  s.Add("table", T::kString).Required().Describe("Versioned table or view (one row per version), optionally schema-qualified").Example("fleet_units_history");
  s.Add("key", T::kString).Required().Describe("Record field used to look up").Example("unit_id");
  s.Add("column", T::kString).DefaultDoc("same as key").Describe("Table column matched against the key").Example("unit_id");
  s.Add("time", T::kString).Required().Describe("Record field holding the event time (a timestamp: milliseconds since the epoch, or ISO text)").Example("ts");
  s.Add("valid_from", T::kString).Default("valid_from").Describe("Table column: the version's start (timestamptz, timestamp or date); a version is valid until the key's next one").Example("valid_from");
  s.Add("fields", T::kMap).Required().Describe("Table column -> output field (null when no version is valid at the record's time)").Example("{name: unit_name, type: unit_type}");
  s.Add("status", T::kString).Required().Describe("Output field (string): confirmed (the record's time is within the horizon), unconfirmed (beyond it when `wait` ran out: the latest known version valid at the time), missing (within the horizon, no version at the time, or a null key or time)").Example("unit_version");
  s.Add("horizon_query", T::kString).Default("''").DefaultDoc("SELECT max(valid_from) FROM table").Describe("SQL returning one timestamptz: every version starting at or before it is in the table (the versioned table's watermark)").Example("'SELECT loaded_until FROM fleet_units_progress'");
  s.Add("refresh", T::kDuration).Default("10s").Describe("Re-read the table when the copy is older than this (while a record waits: every min(refresh, 1s))").Example("10s");
  s.Add("wait", T::kDuration).Default("30s").Describe("Longest wait for the horizon to pass a record's time, from when this horizon value was first waited on; keep it well under the producer's transaction.timeout.ms (60s by default)").Example("30s");
}

}  // namespace

StepType PgAsofLookupStep() {
  return {"pg_asof_lookup",
          "Join the version of a slowly changing (SCD-2) PostgreSQL table valid at the record's "
          "time; a record beyond the table's horizon waits up to `wait`, and every record carries "
          "a status (confirmed, unconfirmed, missing)",
          Declare,
          {"{name: unit, table: fleet_units_history, key: unit_id, column: unit_id, time: ts, valid_from: valid_from, "
           "fields: {name: unit_name}, status: unit_version, horizon_query: 'SELECT max(valid_from) FROM fleet_units_history', "
           "refresh: 10s, wait: 30s}"},
          [](const ComponentInput& in, const EnricherDeps& deps) { return std::make_shared<PgAsofLookup>(in, deps); }};
}

}  // namespace sluice::stages::steps
