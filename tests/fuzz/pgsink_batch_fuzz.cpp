// libFuzzer target over the pg-sink's batch path without PostgreSQL or Kafka: a batch of
// fuzzed records, some framed with a known writer id and some not, each routed
// (RecordRouter: too_large / undecodable / unwritable / new columns / a row), rows appended
// as COPY text, the rest built into DLQ records (runtime::ConsumedDlqMessage, cut to the DLQ
// limit).
// Checks: nothing crashes; a DLQ record fits its limit and keeps its DLQ headers; every row
// adds exactly one line of COPY text with one cell per column.
//
// Input: a sequence of records, each [u16 length][u8 control][length bytes]. control's low
// two bits choose a frame (none, writer v1, writer v2 with a new column, a non-flat writer)
// put before the bytes; the next two choose the DLQ limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "pg_sink.hpp"
#include "sluice/pg/row_batch.hpp"
#include "sluice/runtime/dlq.hpp"
#include "sluice/runtime/serde.hpp"
#include "sluice/runtime/sink_loop.hpp"
#include "sluice/runtime/stage.hpp"

namespace {

using namespace sluice;

const char* kV1 = R"({"type":"record","name":"Loan","namespace":"f","fields":[
  {"name":"loan_id","type":"string"},{"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null},
  {"name":"issued","type":["null",{"type":"int","logicalType":"date"}],"default":null},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}}]})";
const char* kV2 = R"({"type":"record","name":"Loan","namespace":"f","fields":[
  {"name":"loan_id","type":"string"},{"name":"amount","type":"double"},
  {"name":"grade","type":["null","string"],"default":null},
  {"name":"issued","type":["null",{"type":"int","logicalType":"date"}],"default":null},
  {"name":"price","type":{"type":"bytes","logicalType":"decimal","precision":12,"scale":2}},
  {"name":"region","type":"string","default":"?"},
  {"name":"at","type":{"type":"long","logicalType":"timestamp-millis"},"default":0}]})";
const char* kNested = R"({"type":"record","name":"Loan","namespace":"f","fields":[
  {"name":"loan_id","type":"string"},{"name":"tags","type":{"type":"array","items":"string"}}]})";

constexpr std::size_t kMaxRecordBytes = 2048;
const std::size_t kLimits[] = {700, 2000, runtime::kMinDlqLimit, runtime::kMinDlqLimit};

struct Fixture {
  runtime::InMemorySchemaSource schemas;
  std::int32_t ids[3];
  Fixture() {
    ids[0] = schemas.Register("f.enriched-value", kV1);
    ids[1] = schemas.Register("f.enriched-value", kV2);
    ids[2] = schemas.Register("f.other-value", kNested);
  }
};

std::string Frame(std::int32_t id) {
  std::string f(5, '\0');
  for (int i = 0; i < 4; ++i) f[1 + i] = static_cast<char>((id >> (24 - 8 * i)) & 0xff);
  return f;
}

void Require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "pgsink_batch_fuzz: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture* fixture = new Fixture();
  const pg::TableName table{"public", "fuzz"};
  const std::vector<std::string> key{"loan_id"};
  pg_sink::SinkColumns columns(table, key, avro::ParseSchema(kV1));
  pg_sink::RecordRouter router(columns, fixture->schemas, kMaxRecordBytes, /*add_columns=*/true);
  auto rows = std::make_unique<pg::RowBatch>(columns.Columns());
  rows->HashKeys(key);

  std::size_t at = 0;
  std::int64_t offset = 0;
  while (at + 3 <= size) {
    const std::size_t len = std::min<std::size_t>(
        static_cast<std::size_t>(data[at]) | (static_cast<std::size_t>(data[at + 1]) << 8),
        size - at - 3);
    const std::uint8_t control = data[at + 2];
    std::string bytes(reinterpret_cast<const char*>(data + at + 3), len);
    at += 3 + len;
    const int frame = control & 3;
    if (frame > 0) bytes.insert(0, Frame(fixture->ids[frame - 1]));

    pg_sink::RecordRouter::Routed v = router.Route(bytes);
    if (v.new_columns) {
      // As the sink does: the open batch is written, the table gains the columns.
      router.AdoptColumns(v.writer_id);
      rows = std::make_unique<pg::RowBatch>(columns.Columns());
      rows->HashKeys(key);
      v = router.Route(bytes);
      Require(!v.new_columns, "a writer still brings new columns after AdoptColumns");
    }
    if (v.outcome.IsEmit()) {
      const std::size_t before = rows->size();
      router.AppendRoutedRow(*rows);
      Require(rows->size() == before + 1, "a routed row did not add one row");
      const std::string_view text = rows->CopyText(before, before + 1);
      Require(!text.empty() && text.back() == '\n', "a row's COPY text is not one line");
      Require(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\t')) + 1 ==
                  columns.Columns().size(),
              "a row's COPY text has the wrong number of cells");
      continue;
    }
    Require(v.outcome.IsReject() && !v.outcome.rule().empty(), "a DLQ verdict without a rule");
    kafka::Message consumed;
    consumed.topic = "f.enriched";
    consumed.partition = control >> 4;
    consumed.offset = offset++;
    consumed.key = bytes.substr(0, std::min<std::size_t>(bytes.size(), control));
    consumed.value = bytes;
    consumed.headers.push_back({runtime::kHeaderSourceTs, bytes.substr(0, 13)});
    consumed.headers.push_back({runtime::kHeaderOrigin, "f.raw/0@" + std::to_string(len)});
    const std::size_t limit = kLimits[(control >> 2) & 3];
    const kafka::Message dlq =
        runtime::ConsumedDlqMessage(consumed, "f.dlq", "pg_sink", v.outcome.DlqRule(),
                                    v.outcome.DlqReason(), {}, limit);
    const kafka::Header* rule = kafka::FindLastHeader(dlq.headers, runtime::kHeaderRule);
    Require(rule && rule->value == v.outcome.DlqRule(), "the DLQ record lost its rule header");
    Require(kafka::FindLastHeader(dlq.headers, runtime::kHeaderStage) != nullptr,
            "the DLQ record lost its stage header");
    if (limit >= runtime::kMinDlqLimit) {
      Require(runtime::WireSize(dlq) <= limit, "a DLQ record is larger than its limit");
    }
    if (runtime::WireSize(consumed) + 2 * consumed.key->size() + 1024 < limit) {
      Require(kafka::FindLastHeader(dlq.headers, runtime::kHeaderTruncated) == nullptr,
              "a DLQ record that fits was cut");
    }
  }
  return 0;
}
