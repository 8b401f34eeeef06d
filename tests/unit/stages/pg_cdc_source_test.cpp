// The postgres_cdc source type's pure logic on byte sequences built here: the replication
// stream's framing, pgoutput v1 messages (well-formed and malformed), LSNs, changes mapped onto
// the raw schema (types, nulls, unchanged TOAST, delete events and tombstones), positions and
// the factory's checks.
#include <catch2/catch.hpp>

#include <cmath>

#include <nlohmann/json.hpp>
#include <yaml-cpp/yaml.h>

#include "sluice/core/error.hpp"
#include "sluice/stages/pg_cdc_source.hpp"

using namespace sluice::stages;
using nlohmann::json;

namespace {

// Big-endian builders of protocol bytes.
struct Bytes {
  std::string b;
  Bytes& C(char c) { b += c; return *this; }
  Bytes& U16(std::uint16_t v) { return N(v, 2); }
  Bytes& U32(std::uint32_t v) { return N(v, 4); }
  Bytes& U64(std::uint64_t v) { return N(v, 8); }
  Bytes& Str(const std::string& s) { b += s; b += '\0'; return *this; }
  Bytes& Text(const std::string& s) { C('t'); U32(static_cast<std::uint32_t>(s.size())); b += s; return *this; }
  Bytes& Null() { return C('n'); }
  Bytes& Unchanged() { return C('u'); }
  Bytes& N(std::uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) b += static_cast<char>((v >> (8 * i)) & 0xff);
    return *this;
  }
};

std::string Relation() {
  Bytes m;
  m.C('R').U32(16384).Str("public").Str("products").C('d').U16(4);
  m.C(1).Str("id").U32(23).U32(0xffffffff);
  m.C(0).Str("name").U32(25).U32(0xffffffff);
  m.C(0).Str("price").U32(1700).U32(0xffffffff);
  m.C(0).Str("added").U32(1082).U32(0xffffffff);
  return m.b;
}

RecordSpec Spec() {
  return RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"P","fields":[
    {"name":"id","type":"long"},
    {"name":"name","type":["null","string"],"default":null},
    {"name":"price","type":["null","double"],"default":null},
    {"name":"added","type":["null",{"type":"int","logicalType":"date"}],"default":null},
    {"name":"_op","type":"string"},
    {"name":"_lsn","type":"long"},
    {"name":"_table","type":["null","string"],"default":null}]})"),
                            "test");
}

PgRelation Rel() {
  std::string why;
  auto m = DecodePgOutput(Relation(), &why);
  REQUIRE(m);
  return m->relation;
}

PgTuple Tuple(std::initializer_list<PgDatum> d) { return PgTuple(d); }
PgDatum T(const std::string& s) { return PgDatum{'t', s}; }
PgDatum N() { return PgDatum{'n', ""}; }
PgDatum U() { return PgDatum{'u', ""}; }

}  // namespace

TEST_CASE("LSNs format and parse as PostgreSQL writes them") {
  CHECK(FormatLsn(0) == "0/0");
  CHECK(FormatLsn((0x16ull << 32) | 0xB374D848) == "16/B374D848");
  CHECK(ParseLsn("16/B374D848") == ((0x16ull << 32) | 0xB374D848));
  CHECK(ParseLsn("0/1a") == 0x1a);
  CHECK_FALSE(ParseLsn("16B374D848"));
  CHECK_FALSE(ParseLsn("/1"));
  CHECK_FALSE(ParseLsn("1/"));
  CHECK_FALSE(ParseLsn("1/123456789"));
  CHECK_FALSE(ParseLsn("x/1"));
}

TEST_CASE("XLogData and keepalives are framed, a standby status update is 34 bytes") {
  std::string why;
  Bytes w;
  w.C('w').U64(0x100).U64(0x200).U64(42).C('B');
  auto m = DecodeReplicationMessage(w.b, &why);
  REQUIRE(m);
  CHECK(m->kind == ReplicationMessage::Kind::kXLogData);
  CHECK(m->xlog.start == 0x100);
  CHECK(m->xlog.end == 0x200);
  CHECK(m->xlog.data == "B");
  Bytes k;
  k.C('k').U64(0x300).U64(7).C(1);
  m = DecodeReplicationMessage(k.b, &why);
  REQUIRE(m);
  CHECK(m->kind == ReplicationMessage::Kind::kKeepalive);
  CHECK(m->keepalive.wal_end == 0x300);
  CHECK(m->keepalive.reply_requested);
  CHECK_FALSE(DecodeReplicationMessage(k.b.substr(0, 10), &why));
  CHECK_THAT(why, Catch::Contains("short CopyData message 'k'"));
  CHECK_FALSE(DecodeReplicationMessage("x", &why));
  CHECK_THAT(why, Catch::Contains("unknown CopyData message 'x'"));
  CHECK_FALSE(DecodeReplicationMessage("", &why));

  const std::string r = EncodeStandbyStatus(0x10, 0x20, 0x30, 99, true);
  REQUIRE(r.size() == 34);
  Bytes want;
  want.C('r').U64(0x10).U64(0x20).U64(0x30).U64(99).C(1);
  CHECK(r == want.b);
  CHECK(UnixMillis(PgEpochMicros(1'700'000'000'123)) == 1'700'000'000'123);
  CHECK(PgEpochMicros(946'684'800'000) == 0);
}

TEST_CASE("pgoutput Begin, Commit, Origin, Type, Relation decode") {
  std::string why;
  Bytes b;
  b.C('B').U64(0x5000).U64(1000).U32(777);
  auto m = DecodePgOutput(b.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kBegin);
  CHECK(m->lsn == 0x5000);
  CHECK(m->time == 1000);
  CHECK(m->xid == 777);

  Bytes c;
  c.C('C').C(0).U64(0x5000).U64(0x5030).U64(1000);
  m = DecodePgOutput(c.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kCommit);
  CHECK(m->lsn == 0x5000);
  CHECK(m->end_lsn == 0x5030);

  Bytes o;
  o.C('O').U64(0x99).Str("node_a");
  m = DecodePgOutput(o.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kOrigin);
  CHECK(m->name == "node_a");

  Bytes y;
  y.C('Y').U32(90000).Str("public").Str("mood");
  m = DecodePgOutput(y.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kType);
  CHECK(m->relation_oid == 90000);
  CHECK(m->name == "mood");

  const PgRelation rel = Rel();
  CHECK(rel.oid == 16384);
  CHECK(rel.Display() == "public.products");
  CHECK(rel.replica_identity == 'd');
  REQUIRE(rel.columns.size() == 4);
  CHECK(rel.columns[0].key);
  CHECK_FALSE(rel.columns[1].key);
  CHECK(rel.columns[2].name == "price");
  CHECK(rel.columns[2].type_oid == 1700);
  CHECK(rel.columns[2].type_mod == -1);
}

TEST_CASE("pgoutput Insert, Update (with and without old tuple), Delete, Truncate decode") {
  std::string why;
  Bytes i;
  i.C('I').U32(16384).C('N').U16(4).Text("1").Text("lamp").Null().Unchanged();
  auto m = DecodePgOutput(i.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kInsert);
  CHECK(m->relation_oid == 16384);
  REQUIRE(m->new_tuple.size() == 4);
  CHECK(m->new_tuple[1].data == "lamp");
  CHECK(m->new_tuple[2].kind == 'n');
  CHECK(m->new_tuple[3].kind == 'u');

  Bytes u;
  u.C('U').U32(16384).C('N').U16(2).Text("1").Text("desk");
  m = DecodePgOutput(u.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kUpdate);
  CHECK(m->old_kind == 0);
  CHECK(m->new_tuple[1].data == "desk");

  Bytes uk;
  uk.C('U').U32(16384).C('K').U16(2).Text("1").Null().C('N').U16(2).Text("2").Text("desk");
  m = DecodePgOutput(uk.b, &why);
  REQUIRE(m);
  CHECK(m->old_kind == 'K');
  CHECK(m->old_tuple[0].data == "1");
  CHECK(m->new_tuple[0].data == "2");

  Bytes d;
  d.C('D').U32(16384).C('O').U16(2).Text("3").Text("chair");
  m = DecodePgOutput(d.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kDelete);
  CHECK(m->old_kind == 'O');
  CHECK(m->old_tuple[1].data == "chair");

  Bytes t;
  t.C('T').U32(2).C(1).U32(16384).U32(16390);
  m = DecodePgOutput(t.b, &why);
  REQUIRE(m);
  CHECK(m->kind == PgOutputKind::kTruncate);
  CHECK(m->flags == 1);
  CHECK(m->truncated == std::vector<std::uint32_t>{16384, 16390});
}

TEST_CASE("malformed pgoutput messages are refused with the reason, never read past the end") {
  std::string why;
  CHECK_FALSE(DecodePgOutput("", &why));
  CHECK(why == "empty pgoutput message");
  CHECK_FALSE(DecodePgOutput("Z", &why));
  CHECK(why == "unknown pgoutput message 'Z'");
  Bytes b;
  b.C('B').U64(1);
  CHECK_FALSE(DecodePgOutput(b.b, &why));
  CHECK_THAT(why, Catch::Contains("short pgoutput message 'B'"));
  Bytes i;
  i.C('I').U32(1).C('N').U16(1).C('t').U32(100).C('x');  // text longer than the bytes left
  CHECK_FALSE(DecodePgOutput(i.b, &why));
  CHECK_THAT(why, Catch::Contains("short"));
  Bytes k;
  k.C('I').U32(1).C('N').U16(1).C('q');
  CHECK_FALSE(DecodePgOutput(k.b, &why));
  CHECK(why == "unknown tuple column kind 'q'");
  Bytes x;
  x.C('I').U32(1).C('X').U16(0);
  CHECK_FALSE(DecodePgOutput(x.b, &why));
  CHECK(why == "insert: expected 'N', got 'X'");
  Bytes d;
  d.C('D').U32(1).C('N').U16(0);
  CHECK_FALSE(DecodePgOutput(d.b, &why));
  Bytes extra;
  extra.C('B').U64(1).U64(2).U32(3).C('!');
  CHECK_FALSE(DecodePgOutput(extra.b, &why));
  CHECK_THAT(why, Catch::Contains("1 bytes too many"));
  Bytes rel;
  rel.C('R').U32(1).Str("public");  // no NUL-terminated table name
  rel.b += "produ";
  CHECK_FALSE(DecodePgOutput(rel.b, &why));
}

TEST_CASE("text values convert per the raw field's type") {
  std::string why;
  CHECK(PgTextToValue("t", FieldType::kBoolean, &why) == Value{true});
  CHECK(PgTextToValue("f", FieldType::kBoolean, &why) == Value{false});
  CHECK_FALSE(PgTextToValue("yes", FieldType::kBoolean, &why));
  CHECK(PgTextToValue("-42", FieldType::kLong, &why) == Value{std::int64_t{-42}});
  CHECK_FALSE(PgTextToValue("3000000000", FieldType::kInt, &why));
  CHECK(why == "integer 3000000000 does not fit an int");
  CHECK(PgTextToValue("12.50", FieldType::kDouble, &why) == Value{12.5});
  CHECK(std::isinf(std::get<double>(*PgTextToValue("-Infinity", FieldType::kDouble, &why))));
  CHECK(std::isnan(std::get<double>(*PgTextToValue("NaN", FieldType::kDouble, &why))));
  CHECK(PgTextToValue("2017-03-01", FieldType::kDate, &why) == Value{std::int64_t{17226}});
  CHECK_FALSE(PgTextToValue("infinity", FieldType::kDate, &why));
  // numeric, timestamptz, json and arrays keep PostgreSQL's text in string fields.
  CHECK(PgTextToValue("{1,2,3}", FieldType::kString, &why) == Value{std::string("{1,2,3}")});
  CHECK(PgTextToValue("2024-01-02 03:04:05+00", FieldType::kString, &why) == Value{std::string("2024-01-02 03:04:05+00")});
}

TEST_CASE("an insert becomes a typed row with the meta fields") {
  const PgChangeMapper mapper(CdcDeletes::kEvent, Spec());
  const CdcRow r = mapper.Map(Rel(), Tuple({T("7"), T("lamp"), T("19.90"), T("2017-03-01")}), CdcOp::kCreate, 0x5000);
  REQUIRE(r.outcome.IsEmit());
  CHECK(r.row.Get("id") == Value{std::int64_t{7}});
  CHECK(r.row.Get("name") == Value{std::string("lamp")});
  CHECK(r.row.Get("price") == Value{19.9});
  CHECK(r.row.Get("added") == Value{std::int64_t{17226}});
  CHECK(r.row.Get("_op") == Value{std::string("c")});
  CHECK(r.row.Get("_lsn") == Value{std::int64_t{0x5000}});
  CHECK(r.row.Get("_table") == Value{std::string("public.products")});
  CHECK_FALSE(r.tombstone);
  CHECK(json::parse(r.original)["values"]["name"] == "lamp");
  // Nulls in nullable fields.
  const CdcRow n = mapper.Map(Rel(), Tuple({T("8"), N(), N(), N()}), CdcOp::kUpdate, 0x5000);
  REQUIRE(n.outcome.IsEmit());
  CHECK(IsNull(n.row.Get("price")));
  CHECK(n.row.Get("_op") == Value{std::string("u")});
}

TEST_CASE("a value that does not fit goes to the DLQ as pg_change with the reason") {
  const PgChangeMapper mapper(CdcDeletes::kEvent, Spec());
  const CdcRow r = mapper.Map(Rel(), Tuple({T("7"), T("lamp"), T("cheap"), N()}), CdcOp::kCreate, 1);
  REQUIRE(r.outcome.IsDeadLettered());
  CHECK(r.outcome.DlqRule() == "pg_change");
  CHECK(r.outcome.DlqReason() == "public.products: field 'price': expected a number, got 'cheap'");
  CHECK(json::parse(r.original)["values"]["price"] == "cheap");
  const CdcRow nul = mapper.Map(Rel(), Tuple({N(), T("lamp"), N(), N()}), CdcOp::kCreate, 1);
  REQUIRE(nul.outcome.IsDeadLettered());
  CHECK(nul.outcome.DlqReason() == "public.products: field 'id': null (required)");
}

TEST_CASE("an unchanged TOASTed value: from the old row when sent, else the DLQ") {
  const PgChangeMapper mapper(CdcDeletes::kEvent, Spec());
  const CdcRow r = mapper.Map(Rel(), Tuple({T("7"), U(), T("1"), N()}), CdcOp::kUpdate, 1);
  REQUIRE(r.outcome.IsDeadLettered());
  CHECK_THAT(r.outcome.DlqReason(), Catch::Contains("field 'name': an unchanged TOASTed value"));
  const PgTuple old = Tuple({T("7"), T("long text"), T("1"), N()});
  const CdcRow f = mapper.Map(Rel(), Tuple({T("7"), U(), T("2"), N()}), CdcOp::kUpdate, 1, &old);
  REQUIRE(f.outcome.IsEmit());
  CHECK(f.row.Get("name") == Value{std::string("long text")});
}

TEST_CASE("a delete: an event row from the replica identity, or a tombstone for the key") {
  const PgChangeMapper events(CdcDeletes::kEvent, Spec());
  const CdcRow e = events.Map(Rel(), Tuple({T("7"), N(), N(), N()}), CdcOp::kDelete, 9);
  REQUIRE(e.outcome.IsEmit());
  CHECK_FALSE(e.tombstone);
  CHECK(e.row.Get("id") == Value{std::int64_t{7}});
  CHECK(e.row.Get("_op") == Value{std::string("d")});
  CHECK(IsNull(e.row.Get("name")));

  const PgChangeMapper tombs(CdcDeletes::kTombstone, Spec());
  const CdcRow t = tombs.Map(Rel(), Tuple({T("7"), N(), N(), N()}), CdcOp::kDelete, 9);
  REQUIRE(t.outcome.IsEmit());
  CHECK(t.tombstone);
  CHECK(t.row.Get("id") == Value{std::int64_t{7}});
  CHECK(t.row.Find("_op") == nullptr);

  // A required non-key field cannot be filled from the replica identity.
  const RecordSpec strict = RecordSpecFromAvsc(json::parse(R"({"type":"record","name":"S","fields":[
    {"name":"id","type":"long"},{"name":"name","type":"string"}]})"), "test");
  const PgChangeMapper m(CdcDeletes::kEvent, strict);
  const CdcRow bad = m.Map(Rel(), Tuple({T("7"), N(), N(), N()}), CdcOp::kDelete, 9);
  REQUIRE(bad.outcome.IsDeadLettered());
  CHECK_THAT(bad.outcome.DlqReason(), Catch::Contains("a delete event carries only the replica identity"));
}

TEST_CASE("a snapshot row maps by column name with _op r") {
  const PgChangeMapper mapper(CdcDeletes::kEvent, Spec());
  const CdcRow r = mapper.MapSnapshot("public.products", {"name", "id", "extra"},
                                      {std::string("lamp"), std::string("3"), std::nullopt}, 0x10);
  REQUIRE(r.outcome.IsEmit());
  CHECK(r.row.Get("id") == Value{std::int64_t{3}});
  CHECK(r.row.Get("_op") == Value{std::string("r")});
  CHECK(r.row.Find("extra") == nullptr);
  CHECK(r.row.cells().front().first == "id");  // schema order
}

TEST_CASE("positions round-trip, malformed ones are refused") {
  PgCdcPosition p;
  p.snapshot_done = true;
  p.lsn = (1ull << 32) | 0x20;
  p.txn = (1ull << 32) | 0x40;
  p.index = 3;
  p.changes = 12;
  std::string why;
  auto back = DecodePgCdcPosition(EncodePgCdcPosition(p), &why);
  REQUIRE(back);
  CHECK(back->snapshot_done);
  CHECK(back->lsn == p.lsn);
  CHECK(back->txn == p.txn);
  CHECK(back->index == 3);
  CHECK(back->changes == 12);
  CHECK(json::parse(EncodePgCdcPosition(p))["lsn"] == "1/20");

  PgCdcPosition s;
  s.lsn = 0x99;
  s.table = 1;
  s.rows = 500;
  back = DecodePgCdcPosition(EncodePgCdcPosition(s), &why);
  REQUIRE(back);
  CHECK_FALSE(back->snapshot_done);
  CHECK(back->table == 1);
  CHECK(back->rows == 500);
  CHECK(back->txn == 0);

  CHECK_FALSE(DecodePgCdcPosition("{", &why));
  CHECK_FALSE(DecodePgCdcPosition(R"({"snapshot_done":true,"lsn":"zz"})", &why));
  CHECK_FALSE(DecodePgCdcPosition(R"({"snapshot_done":true,"lsn":"0/1","txn":"0/2","index":-1})", &why));
}

TEST_CASE("table and replication names are checked") {
  CHECK(SplitTableName("products") == std::make_pair(std::string("public"), std::string("products")));
  CHECK(SplitTableName("retail.products") == std::make_pair(std::string("retail"), std::string("products")));
  CHECK_FALSE(SplitTableName("a.b.c"));
  CHECK_FALSE(SplitTableName(".b"));
  CHECK_FALSE(SplitTableName("\"x\""));
  CHECK(ValidReplicationName("sluice_retail_1"));
  CHECK_FALSE(ValidReplicationName("Sluice"));
  CHECK_FALSE(ValidReplicationName(""));
  CHECK_FALSE(ValidReplicationName(std::string(64, 'a')));
}

TEST_CASE("the factory: defaults, and refusals naming the option") {
  const RecordSpec raw = Spec();
  auto build = [&](const std::string& item) {
    return SourceTypes().Build(YAML::Load("[" + item + "]"), "p.yaml: producer.sources", raw, sluice::config::View());
  };
  auto built = build("{type: postgres_cdc, name: Shop-1, tables: [products, retail.items]}");
  const auto* s = dynamic_cast<const PgCdcSourceSettings*>(built.at(0).get());
  REQUIRE(s);
  CHECK(s->slot == "sluice_shop_1");
  CHECK(s->publication == "sluice_shop_1");
  CHECK(s->deletes == CdcDeletes::kEvent);
  CHECK(s->snapshot == CdcSnapshot::kInitial);
  CHECK(s->tables == std::vector<std::string>{"products", "retail.items"});
  CHECK_THROWS_WITH(build("{type: postgres_cdc, tables: [a.b.c]}"), Catch::Contains("is not 'table' or 'schema.table'"));
  CHECK_THROWS_WITH(build("{type: postgres_cdc, tables: [a], slot: Bad-Slot}"), Catch::Contains("use [a-z0-9_]"));
  CHECK_THROWS_WITH(build("{type: postgres_cdc, tables: [a], deletes: soft}"), Catch::Contains("deletes"));
}
