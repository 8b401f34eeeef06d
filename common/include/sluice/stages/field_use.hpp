#pragma once
// What a cleaner rule or an enricher step does with each field it names, so the pipeline
// file can be checked against its schemas before any record flows (pipeline_fields.hpp).
#include <string>

namespace sluice::stages {

enum class FieldAccess {
  kRead,    // the value is read: an absent field reads as null on every record
  kUpdate,  // read and rewritten in place: an absent field stays absent
  kWrite,   // set whatever it held: the step may create the field
};

struct FieldUse {
  std::string field;
  // The option that names the field, relative to the rule: "field", "fields[2]",
  // "fields.name" (a map value), "url" (a {field} placeholder).
  std::string key;
  FieldAccess access = FieldAccess::kRead;
  // For the order of cleaner rules (--check): a coerce names the type its update leaves in
  // the field ("bool", "int", "date", ...; "string" leaves text); an allowed or regex rule
  // compares the value's text, and says whether a number's text can pass it (an allowed
  // value that is a number; any regex, which cannot be judged).
  std::string coerced_to;
  bool compares_text = false;
  bool number_text_passes = false;
};

}  // namespace sluice::stages
