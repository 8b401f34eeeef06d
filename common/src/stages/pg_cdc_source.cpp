#include "sluice/stages/pg_cdc_source.hpp"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>

#include <nlohmann/json.hpp>

#include "sluice/core/error.hpp"
#include "sluice/stages/dlq_code.hpp"

namespace sluice::stages {

using nlohmann::json;

namespace {

void DeclareCdc(config::Section& c) {
  using T = config::OptionType;
  c.Add("name", T::kString).Describe("Source name in provenance headers and positions; defaults to the type and index (postgres_cdc0)").Example("products");
  c.Add("tables", T::kList).Required().Describe("Tables whose changes are read ('table' in schema public, or 'schema.table'); each column named like a raw field fills it").Example("[public.products, transactions]");
  c.Add("slot", T::kString).Describe("Logical replication slot, created when missing (default sluice_<name>); [a-z0-9_], at most 63 characters").Example("sluice_retail_products");
  c.Add("publication", T::kString).Describe("Publication FOR TABLE <tables>, created when missing (default sluice_<name>)").Example("sluice_retail_products");
  c.Add("deletes", T::kEnum).Allowed({"event", "tombstone"}).Default("event").Describe("A delete becomes a row with _op 'd' (the replica identity's columns, other fields null), or a Kafka tombstone for the key").Example("tombstone");
  c.Add("snapshot", T::kEnum).Allowed({"initial", "never"}).Default("initial").Describe("initial: the tables' rows first (_op 'r'), then the changes after them; never: changes from the slot's creation on").Example("never");
  c.Add("status_interval", T::kDuration).Default("10s").Describe("Standby status updates (the acknowledged LSN) at least this often").Example("5s");
  c.Add("snapshot_fetch", T::kInt).Default("1000").Min(1).Describe("Rows per FETCH while reading the initial snapshot").Example("5000");
}

std::string DefaultReplicationName(const std::string& source) {
  std::string n = "sluice_";
  for (unsigned char ch : source) {
    n += std::isalnum(ch) ? static_cast<char>(std::tolower(ch)) : '_';
  }
  return n.substr(0, 63);
}

}  // namespace

void DeclarePgCdcSource(config::Section& cdc) { DeclareCdc(cdc); }

const std::vector<std::string>& PgCdcSourceExamples() {
  static const std::vector<std::string> examples = {
      "{name: products, tables: [public.products, transactions], slot: sluice_retail_products, "
      "publication: sluice_retail_products, deletes: tombstone, snapshot: never, status_interval: 5s, "
      "snapshot_fetch: 5000}",
      "{tables: [products]}",
  };
  return examples;
}

std::shared_ptr<SourceSettings> MakePgCdcSource(const ComponentInput& in, const RecordSpec& raw,
                                                const config::View& id) {
  auto s = std::make_shared<PgCdcSourceSettings>();
  const config::View& o = in.options;
  s->name = o.OptionalString("name").value_or("postgres_cdc" + std::to_string(in.index));
  s->tables = o.Strings("tables");
  if (s->tables.empty()) in.Fail("tables", "name at least one table");
  for (const auto& t : s->tables) {
    if (!SplitTableName(t)) in.Fail("tables", "'" + t + "' is not 'table' or 'schema.table'");
  }
  s->slot = o.OptionalString("slot").value_or(DefaultReplicationName(s->name));
  s->publication = o.OptionalString("publication").value_or(DefaultReplicationName(s->name));
  if (!ValidReplicationName(s->slot)) in.Fail("slot", "'" + s->slot + "': use [a-z0-9_], at most 63 characters");
  if (!ValidReplicationName(s->publication)) {
    in.Fail("publication", "'" + s->publication + "': use [a-z0-9_], at most 63 characters");
  }
  s->deletes = o.String("deletes") == "tombstone" ? CdcDeletes::kTombstone : CdcDeletes::kEvent;
  s->snapshot = o.String("snapshot") == "never" ? CdcSnapshot::kNever : CdcSnapshot::kInitial;
  s->status_interval = o.Duration("status_interval");
  s->snapshot_fetch = o.Int("snapshot_fetch");
  if (const FieldSpec* f = raw.Find(kCdcOpField); f && f->type != FieldType::kString) {
    in.Fail("", "raw field '_op' must be a string (c, u, d, r)");
  }
  if (const FieldSpec* f = raw.Find(kCdcLsnField); f && f->type != FieldType::kString && f->type != FieldType::kLong) {
    in.Fail("", "raw field '_lsn' must be a long or a string");
  }
  if (id.Exists()) in.Fail("", "producer.id derives ids from CSV rows; a postgres_cdc source keys its records by producer.key");
  return s;
}

// ---- LSNs ---------------------------------------------------------------------------------

std::string FormatLsn(Lsn lsn) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%X/%X", static_cast<unsigned>(lsn >> 32), static_cast<unsigned>(lsn & 0xffffffffu));
  return buf;
}

std::optional<Lsn> ParseLsn(std::string_view text) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return std::nullopt;
  auto hex = [](std::string_view h) -> std::optional<std::uint64_t> {
    if (h.empty() || h.size() > 8) return std::nullopt;
    std::uint64_t v = 0;
    for (char c : h) {
      int d;
      if (c >= '0' && c <= '9') d = c - '0';
      else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
      else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
      else return std::nullopt;
      v = v * 16 + static_cast<std::uint64_t>(d);
    }
    return v;
  };
  const auto hi = hex(text.substr(0, slash));
  const auto lo = hex(text.substr(slash + 1));
  if (!hi || !lo) return std::nullopt;
  return (*hi << 32) | *lo;
}

// ---- Byte reading ------------------------------------------------------------------------------

namespace {

// Big-endian reader over a message; every read checks the bytes left.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return b_.size() - at_; }
  std::uint64_t U(int n) {
    if (!ok_ || left() < static_cast<std::size_t>(n)) {
      ok_ = false;
      return 0;
    }
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b_[at_++]);
    return v;
  }
  std::uint8_t U8() { return static_cast<std::uint8_t>(U(1)); }
  std::uint16_t U16() { return static_cast<std::uint16_t>(U(2)); }
  std::uint32_t U32() { return static_cast<std::uint32_t>(U(4)); }
  std::uint64_t U64() { return U(8); }
  std::int64_t I64() { return static_cast<std::int64_t>(U64()); }
  std::string CString() {
    if (!ok_) return {};
    const auto nul = b_.find('\0', at_);
    if (nul == std::string_view::npos) {
      ok_ = false;
      return {};
    }
    std::string s(b_.substr(at_, nul - at_));
    at_ = nul + 1;
    return s;
  }
  std::string Bytes(std::size_t n) {
    if (!ok_ || left() < n) {
      ok_ = false;
      return {};
    }
    std::string s(b_.substr(at_, n));
    at_ += n;
    return s;
  }
  std::string_view Rest() {
    const std::string_view r = ok_ ? b_.substr(at_) : std::string_view();
    at_ = b_.size();
    return r;
  }

 private:
  std::string_view b_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

void PutU64(std::string& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out += static_cast<char>((v >> (8 * i)) & 0xff);
}

// 946684800 s: 1970-01-01 to 2000-01-01.
constexpr std::int64_t kPgEpochUnixMs = 946'684'800'000;

bool ReadTuple(Reader& r, PgTuple& tuple, std::string* why) {
  const std::uint16_t n = r.U16();
  tuple.clear();
  tuple.reserve(n);
  for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
    PgDatum d;
    d.kind = static_cast<char>(r.U8());
    switch (d.kind) {
      case 'n':
      case 'u': break;
      case 't':
      case 'b': {
        const std::uint32_t len = r.U32();
        d.data = r.Bytes(len);
        break;
      }
      default:
        if (!r.ok()) break;
        if (why) *why = std::string("unknown tuple column kind '") + d.kind + "'";
        return false;
    }
    tuple.push_back(std::move(d));
  }
  return true;
}

}  // namespace

std::int64_t PgEpochMicros(std::int64_t unix_ms) { return (unix_ms - kPgEpochUnixMs) * 1000; }
std::int64_t UnixMillis(std::int64_t pg_micros) { return pg_micros / 1000 + kPgEpochUnixMs; }

std::optional<ReplicationMessage> DecodeReplicationMessage(std::string_view bytes, std::string* why) {
  Reader r(bytes);
  ReplicationMessage m;
  const char type = static_cast<char>(r.U8());
  if (type == 'w') {
    m.kind = ReplicationMessage::Kind::kXLogData;
    m.xlog.start = r.U64();
    m.xlog.end = r.U64();
    m.xlog.send_time = r.I64();
    m.xlog.data = r.Rest();
  } else if (type == 'k') {
    m.kind = ReplicationMessage::Kind::kKeepalive;
    m.keepalive.wal_end = r.U64();
    m.keepalive.send_time = r.I64();
    m.keepalive.reply_requested = r.U8() != 0;
  } else {
    if (why) *why = bytes.empty() ? "empty CopyData message" : std::string("unknown CopyData message '") + type + "'";
    return std::nullopt;
  }
  if (!r.ok()) {
    if (why) *why = std::string("short CopyData message '") + type + "' (" + std::to_string(bytes.size()) + " bytes)";
    return std::nullopt;
  }
  return m;
}

std::string EncodeStandbyStatus(Lsn write, Lsn flush, Lsn apply, std::int64_t now_us, bool reply) {
  std::string out(1, 'r');
  PutU64(out, write);
  PutU64(out, flush);
  PutU64(out, apply);
  PutU64(out, static_cast<std::uint64_t>(now_us));
  out += static_cast<char>(reply ? 1 : 0);
  return out;
}

std::optional<PgOutputMessage> DecodePgOutput(std::string_view bytes, std::string* why) {
  Reader r(bytes);
  PgOutputMessage m;
  std::string problem;
  const char type = static_cast<char>(r.U8());
  auto read_change_tuple = [&](PgTuple& t) { return ReadTuple(r, t, &problem); };
  switch (type) {
    case 'B':
      m.kind = PgOutputKind::kBegin;
      m.lsn = r.U64();
      m.time = r.I64();
      m.xid = r.U32();
      break;
    case 'C':
      m.kind = PgOutputKind::kCommit;
      m.flags = r.U8();
      m.lsn = r.U64();
      m.end_lsn = r.U64();
      m.time = r.I64();
      break;
    case 'O':
      m.kind = PgOutputKind::kOrigin;
      m.lsn = r.U64();
      m.name = r.CString();
      break;
    case 'R': {
      m.kind = PgOutputKind::kRelation;
      m.relation.oid = r.U32();
      m.relation.schema = r.CString();
      m.relation.name = r.CString();
      m.relation.replica_identity = static_cast<char>(r.U8());
      const std::uint16_t n = r.U16();
      for (std::uint16_t i = 0; i < n && r.ok(); ++i) {
        PgRelColumn c;
        c.key = (r.U8() & 1) != 0;
        c.name = r.CString();
        c.type_oid = r.U32();
        c.type_mod = static_cast<std::int32_t>(r.U32());
        m.relation.columns.push_back(std::move(c));
      }
      break;
    }
    case 'Y':
      m.kind = PgOutputKind::kType;
      m.relation_oid = r.U32();
      m.relation.schema = r.CString();
      m.name = r.CString();
      break;
    case 'I': {
      m.kind = PgOutputKind::kInsert;
      m.relation_oid = r.U32();
      const char n = static_cast<char>(r.U8());
      if (r.ok() && n != 'N') {
        problem = std::string("insert: expected 'N', got '") + n + "'";
        break;
      }
      read_change_tuple(m.new_tuple);
      break;
    }
    case 'U': {
      m.kind = PgOutputKind::kUpdate;
      m.relation_oid = r.U32();
      char next = static_cast<char>(r.U8());
      if (r.ok() && (next == 'K' || next == 'O')) {
        m.old_kind = next;
        if (!read_change_tuple(m.old_tuple)) break;
        next = static_cast<char>(r.U8());
      }
      if (r.ok() && next != 'N') {
        problem = std::string("update: expected 'N', got '") + next + "'";
        break;
      }
      read_change_tuple(m.new_tuple);
      break;
    }
    case 'D': {
      m.kind = PgOutputKind::kDelete;
      m.relation_oid = r.U32();
      const char k = static_cast<char>(r.U8());
      if (r.ok() && k != 'K' && k != 'O') {
        problem = std::string("delete: expected 'K' or 'O', got '") + k + "'";
        break;
      }
      m.old_kind = k;
      read_change_tuple(m.old_tuple);
      break;
    }
    case 'T': {
      m.kind = PgOutputKind::kTruncate;
      const std::uint32_t n = r.U32();
      m.flags = r.U8();
      for (std::uint32_t i = 0; i < n && r.ok(); ++i) m.truncated.push_back(r.U32());
      break;
    }
    case 'M': {
      m.kind = PgOutputKind::kMessage;
      m.flags = r.U8();
      m.lsn = r.U64();
      m.name = r.CString();
      const std::uint32_t len = r.U32();
      r.Bytes(len);
      break;
    }
    default:
      problem = bytes.empty() ? "empty pgoutput message" : std::string("unknown pgoutput message '") + type + "'";
  }
  if (problem.empty() && !r.ok()) {
    problem = std::string("short pgoutput message '") + type + "' (" + std::to_string(bytes.size()) + " bytes)";
  }
  if (problem.empty() && r.left() != 0) {
    problem = std::string("pgoutput message '") + type + "' has " + std::to_string(r.left()) + " bytes too many";
  }
  if (!problem.empty()) {
    if (why) *why = problem;
    return std::nullopt;
  }
  return m;
}

// ---- Changes onto the raw schema ---------------------------------------------------------------

char CdcOpLetter(CdcOp op) {
  switch (op) {
    case CdcOp::kCreate: return 'c';
    case CdcOp::kUpdate: return 'u';
    case CdcOp::kDelete: return 'd';
    case CdcOp::kRead: return 'r';
  }
  return '?';
}


PgChangeMapper::PgChangeMapper(CdcDeletes deletes, RecordSpec raw) : deletes_(deletes), raw_(std::move(raw)) {}

CdcRow PgChangeMapper::Build(const std::string& table, const std::vector<Cell>& cells, CdcOp op, Lsn lsn) const {
  CdcRow out;
  json original = {{"table", table}, {"op", std::string(1, CdcOpLetter(op))}, {"lsn", FormatLsn(lsn)}};
  json values = json::object();
  for (const Cell& c : cells) {
    values[*c.column] = c.unchanged ? json("(unchanged TOAST)") : c.text ? json(*c.text) : json(nullptr);
  }
  original["values"] = std::move(values);
  out.original = original.dump();
  auto reject = [&](const std::string& why) {
    out.outcome = Outcome::Reject(DlqCode::kPgChange, table + ": " + why);
    out.row = Row();
    return out;
  };
  const bool tombstone = op == CdcOp::kDelete && deletes_ == CdcDeletes::kTombstone;
  out.tombstone = tombstone;
  out.row.Reserve(raw_.fields.size());
  for (const FieldSpec& f : raw_.fields) {
    if (f.name == kCdcOpField) {
      if (!tombstone) out.row.Append(f.name, std::string(1, CdcOpLetter(op)));
      continue;
    }
    if (f.name == kCdcLsnField) {
      if (!tombstone) {
        out.row.Append(f.name, f.type == FieldType::kLong ? Value{static_cast<std::int64_t>(lsn)} : Value{FormatLsn(lsn)});
      }
      continue;
    }
    if (f.name == kCdcTableField) {
      if (!tombstone) out.row.Append(f.name, table);
      continue;
    }
    const Cell* cell = nullptr;
    for (const Cell& c : cells) {
      if (*c.column == f.name) {
        cell = &c;
        break;
      }
    }
    if (tombstone) {
      // Only the key matters: the replica identity's columns.
      if (cell && cell->text) {
        std::string why;
        auto v = PgTextToValue(*cell->text, f.type, &why);
        if (!v) return reject("field '" + f.name + "': " + why);
        out.row.Append(f.name, std::move(*v));
      }
      continue;
    }
    if (cell && cell->unchanged) {
      return reject("field '" + f.name + "': an unchanged TOASTed value PostgreSQL does not send (see the postgres_cdc docs: leave large columns out of the raw schema, or set REPLICA IDENTITY FULL)");
    }
    if (!cell || !cell->text) {
      if (f.nullable) {
        out.row.Append(f.name, Null{});
        continue;
      }
      if (cell == nullptr && f.default_value) {
        out.row.Append(f.name, *f.default_value);
        continue;
      }
      if (op == CdcOp::kDelete) {
        return reject("field '" + f.name + "': required, but a delete event carries only the replica identity (make the field nullable, or set REPLICA IDENTITY FULL)");
      }
      return reject("field '" + f.name + "': " + (cell ? "null (required)" : "no such column (required)"));
    }
    std::string why;
    auto v = PgTextToValue(*cell->text, f.type, &why);
    if (!v) return reject("field '" + f.name + "': " + why);
    out.row.Append(f.name, std::move(*v));
  }
  return out;
}

CdcRow PgChangeMapper::Map(const PgRelation& rel, const PgTuple& tuple, CdcOp op, Lsn lsn,
                           const PgTuple* old_tuple) const {
  std::vector<Cell> cells;
  cells.reserve(rel.columns.size());
  for (std::size_t i = 0; i < rel.columns.size() && i < tuple.size(); ++i) {
    const PgDatum& d = tuple[i];
    Cell c{&rel.columns[i].name, std::nullopt, false};
    if (d.kind == 't') c.text = d.data;
    if (d.kind == 'b') c.text = d.data;  // binary is never requested (proto_version 1 text)
    if (d.kind == 'u') {
      // The old row (REPLICA IDENTITY FULL) may hold it.
      if (old_tuple && i < old_tuple->size() && (*old_tuple)[i].kind == 't') {
        c.text = (*old_tuple)[i].data;
      } else {
        c.unchanged = true;
      }
    }
    cells.push_back(c);
  }
  return Build(rel.Display(), cells, op, lsn);
}

CdcRow PgChangeMapper::MapSnapshot(const std::string& table, const std::vector<std::string>& columns,
                                   const std::vector<std::optional<std::string>>& values, Lsn lsn) const {
  std::vector<Cell> cells;
  cells.reserve(columns.size());
  for (std::size_t i = 0; i < columns.size() && i < values.size(); ++i) cells.push_back(Cell{&columns[i], values[i], false});
  return Build(table, cells, CdcOp::kRead, lsn);
}

// ---- Position ----------------------------------------------------------------------------------

std::string EncodePgCdcPosition(const PgCdcPosition& p) {
  json j = {{"snapshot_done", p.snapshot_done}, {"lsn", FormatLsn(p.lsn)}, {"changes", p.changes}};
  if (p.txn != 0) {
    j["txn"] = FormatLsn(p.txn);
    j["index"] = p.index;
  }
  if (!p.snapshot_done) {
    j["table"] = p.table;
    j["rows"] = p.rows;
  }
  return j.dump();
}

std::optional<PgCdcPosition> DecodePgCdcPosition(const std::string& text, std::string* why) {
  try {
    const json j = json::parse(text);
    PgCdcPosition p;
    p.snapshot_done = j.at("snapshot_done").get<bool>();
    const auto lsn = ParseLsn(j.at("lsn").get<std::string>());
    if (!lsn) throw std::runtime_error("malformed lsn");
    p.lsn = *lsn;
    if (j.contains("txn")) {
      const auto txn = ParseLsn(j.at("txn").get<std::string>());
      if (!txn) throw std::runtime_error("malformed txn");
      p.txn = *txn;
      p.index = j.at("index").get<std::int64_t>();
      if (p.index < 0) throw std::runtime_error("negative index");
    }
    p.changes = j.value("changes", std::int64_t{0});
    p.table = j.value("table", std::int64_t{0});
    p.rows = j.value("rows", std::int64_t{0});
    if (p.table < 0 || p.rows < 0) throw std::runtime_error("negative snapshot table or rows");
    return p;
  } catch (const std::exception& e) {
    if (why) *why = e.what();
    return std::nullopt;
  }
}

std::optional<std::pair<std::string, std::string>> SplitTableName(const std::string& name) {
  auto ok = [](const std::string& part) {
    if (part.empty()) return false;
    for (unsigned char ch : part) {
      if (ch == '"' || std::isspace(ch)) return false;
    }
    return true;
  };
  const auto dot = name.find('.');
  if (dot == std::string::npos) {
    if (!ok(name)) return std::nullopt;
    return std::make_pair(std::string("public"), name);
  }
  const std::string schema = name.substr(0, dot), table = name.substr(dot + 1);
  if (!ok(schema) || !ok(table) || table.find('.') != std::string::npos) return std::nullopt;
  return std::make_pair(schema, table);
}

bool ValidReplicationName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  for (unsigned char ch : name) {
    if (!(std::islower(ch) || std::isdigit(ch) || ch == '_')) return false;
  }
  return true;
}

}  // namespace sluice::stages
