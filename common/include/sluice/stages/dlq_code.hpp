#pragma once
// Why a record goes to the dead-letter topic: every value of the sluice-dlq-rule header the
// code can write (docs/dlq-codes.md is generated from DlqCodes()). The fixed words are the
// enumerators below; kRule stands for a configured cleaner rule or enricher step, whose header
// value is its name from the pipeline file. Code that dead-letters a record names its reason
// with an enumerator, never with a free string, so the table and the docs list them all.
#include <string>
#include <string_view>
#include <vector>

namespace sluice::stages {

enum class DlqCode {
  kCsv,          // producer: a malformed CSV record
  kEmptyLine,    // producer: an empty or blank line
  kHeader,       // producer: the file's header does not map onto the raw schema
  kHttpPage,     // producer: an HTTP response page that cannot be read (not JSON, over a limit)
  kHttpRecord,   // producer: a record of an HTTP page that does not fit the raw schema
  kJsonMessage,  // producer: a message of a JSON topic that is not JSON or does not fit
  kPgChange,     // producer: a PostgreSQL change (CDC) or snapshot row that does not fit the raw schema
  kPgRow,        // producer: a row of a postgres source that does not fit the raw schema
  kTooLarge,     // any stage: a record over max_record_bytes
  kUndecodable,  // cleaner, enricher, sink: bytes that do not decode
  kUnencodable,  // producer, cleaner, enricher: a row that does not fit the output schema
  kDrop,         // cleaner, enricher: the stage dropped the record
  kType,         // cleaner, enricher: the row does not convert to the output schema
  kLate,         // cleaner: a late rule found the record too far behind the watermark
  kUnwritable,   // sink: a writer schema that cannot be a row of the table
  kPgRejected,   // sink: PostgreSQL refused the row
  kRule,         // cleaner, enricher: a configured rule or step (the header is its name)
};

struct DlqCodeInfo {
  DlqCode code;
  std::string_view word;    // the header value ("" for kRule: the rule's name)
  std::string_view stages;  // which stages write it
  std::string_view when;    // what it means, one sentence
  std::string_view reason;  // the shape of the sluice-dlq-reason text
};

// Every code, in declaration order.
const std::vector<DlqCodeInfo>& DlqCodes();
const DlqCodeInfo& InfoOf(DlqCode code);
// The sluice-dlq-rule value of a fixed code. Precondition: code != kRule.
std::string Word(DlqCode code);
// True for a name a configured rule or step may not take (a fixed word).
bool IsReservedDlqWord(std::string_view name);
// docs/dlq-codes.md.
std::string DlqCodesMarkdown();

}  // namespace sluice::stages
