#include "sluice/stages/dlq_code.hpp"

#include <sstream>

#include "sluice/core/error.hpp"

namespace sluice::stages {

const std::vector<DlqCodeInfo>& DlqCodes() {
  static const std::vector<DlqCodeInfo> codes = {
      {DlqCode::kCsv, "csv", "producer",
       "a malformed CSV record: a stray quote in an unquoted field, text after a closing quote, "
       "a quoted field open at end of file, or a column count different from the header's",
       "the parser's message, or `expected N columns, found M`"},
      {DlqCode::kEmptyLine, "empty_line", "producer",
       "an empty or blank line (counted, so that rows in = rows loaded + DLQ)", "`empty line`"},
      {DlqCode::kHeader, "header", "producer",
       "the file's header does not map onto the raw schema: the header line is dead-lettered "
       "and the rest of the file skipped (the file is marked done)",
       "the mapping error"},
      {DlqCode::kHttpPage, "http_page", "producer",
       "an HTTP source's response page that cannot be read: not JSON, no record list at the "
       "configured path, larger than `max_response_bytes` or holding more than "
       "`max_records_per_page` records. The page's body is the DLQ value; the source moves past "
       "it only when its pagination names the next page without it (page, offset), and "
       "otherwise retries it, then stops",
       "`GET <url> (page <p>): <what is wrong>`, plus `sluice-source-url`"},
      {DlqCode::kHttpRecord, "http_record", "producer",
       "a record of an HTTP page that does not fit the raw schema: a required field missing or "
       "null, or a value of the wrong JSON type. The record's JSON is the DLQ value",
       "`field 'close': missing (required)` or `field 'volume': expected a number, got a string`"},
      {DlqCode::kJsonMessage, "json_message", "producer",
       "a message of a kafka_json source's topic that is empty (a tombstone), not JSON, or a JSON "
       "record that does not fit the raw schema. The message's bytes are the DLQ value; its topic, "
       "partition and offset are in the reason and the `sluice-origin` header",
       "`<topic>/<partition>@<offset>: not JSON: …` or `<topic>/<p>@<o>: field 'speed_kmh' "
       "(speed_kmh): expected a number, got a string`"},
      {DlqCode::kPgChange, "pg_change", "producer",
       "a change read by a postgres_cdc source (insert, update, delete, snapshot row) that does "
       "not fit the raw schema: a value that does not convert to its field's type, a required "
       "field without a column or without a value (a delete event carries only the replica "
       "identity), an unchanged TOASTed value PostgreSQL did not send, or a TRUNCATE. The change "
       "as JSON is the DLQ value",
       "`public.products: field 'price': expected a double, got 'abc'` or `TRUNCATE of public.products`"},
      {DlqCode::kPgRow, "pg_row", "producer",
       "a row of a postgres source's table that does not fit the raw schema: a NULL in a "
       "required field, or a value that does not convert to the field's type (text that is not "
       "a number, an integer out of range). The row's columns as a JSON object of texts are the "
       "DLQ value; the source moves past it",
       "`field 'qty' (column quantity): expected an integer, got '2.5'`, plus `sluice-source-table`"},
      {DlqCode::kTooLarge, "too_large", "producer, cleaner, enricher, pg-sink",
       "a record longer than the stage's `max_record_bytes` (not decoded; the producer resumes "
       "at the next line), or a row whose encoding is larger",
       "`record of N bytes is larger than max_record_bytes (M); not decoded` and similar"},
      {DlqCode::kUndecodable, "undecodable", "cleaner, enricher, pg-sink",
       "not in the wire format, an unknown schema id, malformed Avro, or a writer schema that "
       "cannot be resolved to the stage's input schema",
       "`undecodable: …` or `writer schema N is unknown`"},
      {DlqCode::kUnencodable, "unencodable", "producer, cleaner, enricher",
       "a row that does not fit the stage's output schema", "the encoder's message"},
      {DlqCode::kDrop, "drop", "cleaner, enricher",
       "the stage dropped the record (no rule a valid pipeline file can configure does this "
       "today)",
       "`<rule name>: <reason>`"},
      {DlqCode::kType, "type", "cleaner, enricher",
       "the row, after every rule or step, does not convert to the output schema (the implicit "
       "typing rule; `type` is reserved as a rule name)",
       "the conversion error"},
      {DlqCode::kLate, "late", "cleaner",
       "a `late` rule found the record's time more than the rule's `lateness` behind the "
       "watermark, the greatest time among the records the cleaner has emitted (warmed from the "
       "clean topic on restart). The reason starts with the rule's field; with several rules of "
       "type late, the field tells them apart",
       "`ts 2014-03-01T10:00:00Z is 2h35m behind the watermark 2014-03-01T12:35:00Z (lateness 2h)`"},
      {DlqCode::kUnwritable, "unwritable", "pg-sink",
       "a known writer schema that cannot be a row of the table: not a flat record, or a key "
       "field missing",
       "`writer schema N cannot be a table row: …`"},
      {DlqCode::kPgRejected, "pg_rejected", "pg-sink",
       "PostgreSQL refused the row with a bad-record SQLSTATE (a constraint, an invalid value); "
       "the row is isolated by bisection under savepoints and the rest of the batch is written",
       "`SQLSTATE <code>: <server message>`, plus the `sluice-dlq-sqlstate` header"},
      {DlqCode::kRule, "", "cleaner, enricher",
       "a configured cleaner rule or enricher step rejected the record; the header is the "
       "rule's `name:` (default `<type>_<index>`). docs/cleaning-rules.md says when each rule "
       "type rejects",
       "the rule's message, e.g. `missing required field(s): …`"},
  };
  return codes;
}

const DlqCodeInfo& InfoOf(DlqCode code) {
  for (const DlqCodeInfo& info : DlqCodes()) {
    if (info.code == code) return info;
  }
  SLUICE_ASSERT(false, "a DlqCode missing from DlqCodes()");
  return DlqCodes().front();
}

std::string Word(DlqCode code) {
  SLUICE_ASSERT(code != DlqCode::kRule, "kRule has no fixed word: use the rule's name");
  return std::string(InfoOf(code).word);
}

bool IsReservedDlqWord(std::string_view name) {
  for (const DlqCodeInfo& info : DlqCodes()) {
    if (!info.word.empty() && info.word == name) return true;
  }
  return false;
}

std::string DlqCodesMarkdown() {
  std::ostringstream md;
  md << "# DLQ codes\n\n"
        "<!-- Generated from common/src/stages/dlq_code.cpp (DlqCodes). Regenerate with\n"
        "     SLUICE_UPDATE_DOCS=1 <build>/tests/test_unit_stages_dlq_code_test -->\n\n"
        "Every record a stage gives up on goes to the pipeline's DLQ topic with its original "
        "bytes and the headers `sluice-dlq-stage`, `sluice-dlq-rule` (the code below), "
        "`sluice-dlq-reason` (a text) and `sluice-origin` (docs/architecture.md, \"Errors\"). "
        "The metric `sluice_records_rejected_total{reason}` is labelled with the same code.\n\n"
        "| code | stages | when | reason text |\n"
        "| --- | --- | --- | --- |\n";
  for (const DlqCodeInfo& info : DlqCodes()) {
    md << "| " << (info.word.empty() ? std::string("*the rule's name*") : "`" + std::string(info.word) + "`")
       << " | " << info.stages << " | " << info.when << " | " << info.reason << " |\n";
  }
  return md.str();
}

}  // namespace sluice::stages
