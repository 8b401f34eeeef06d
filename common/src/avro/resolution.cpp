#include "sluice/avro/resolution.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace sluice::avro {

namespace {

std::string JsonPointer(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& token : tokens) {
    out.push_back('/');
    for (char c : token) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out.push_back(c);
      }
    }
  }
  return out;
}

std::string Describe(const Node& node) {
  std::string out(TypeName(node.type()));
  if (node.is_named()) {
    out += " " + node.full_name();
  }
  return out;
}

}  // namespace

ResolutionError::ResolutionError(std::string path, std::string reason)
    : core::DataError("cannot resolve the writer schema to the reader schema at '" +
                      (path.empty() ? std::string("/") : path) + "': " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

bool IsPromotable(Type writer, Type reader) {
  switch (writer) {
    case Type::kInt:
      return reader == Type::kLong || reader == Type::kFloat || reader == Type::kDouble;
    case Type::kLong:
      return reader == Type::kFloat || reader == Type::kDouble;
    case Type::kFloat:
      return reader == Type::kDouble;
    case Type::kString:
      return reader == Type::kBytes;
    case Type::kBytes:
      return reader == Type::kString;
    default:
      return false;
  }
}

std::string DecimalMismatch(const Node& writer, const Node& reader) {
  if (writer.logical_type() != LogicalType::kDecimal ||
      reader.logical_type() != LogicalType::kDecimal) {
    return {};
  }
  if (writer.scale() != reader.scale()) {
    return "decimal scale differs (writer " + std::to_string(writer.scale()) + ", reader " +
           std::to_string(reader.scale()) + "): every value would change";
  }
  if (reader.precision() < writer.precision()) {
    return "decimal precision narrows from " + std::to_string(writer.precision()) + " to " +
           std::to_string(reader.precision());
  }
  return {};
}

namespace detail {

enum class Op : std::uint8_t {
  kNull,
  kBoolean,
  kInt,
  kLong,
  kFloat,
  kDouble,
  kBytes,
  kString,
  kIntToLong,
  kIntToFloat,
  kIntToDouble,
  kLongToFloat,
  kLongToDouble,
  kFloatToDouble,
  kStringToBytes,
  kBytesToString,
  kFixed,
  kEnum,
  kArray,
  kMap,
  kRecord,
  kWriterUnion,
  kReaderUnion,
  kError,
};

constexpr std::size_t kSkip = static_cast<std::size_t>(-1);

// One writer field in writer order: decode it with `step` into reader field
// `reader_index`, or skip it (step == kSkip) using its writer type.
struct FieldAction {
  const Node* writer_type = nullptr;
  std::size_t step = kSkip;
  std::size_t reader_index = 0;
};

// One node of the plan; steps refer to each other by index so recursive types are cycles.
struct Step {
  Op op = Op::kError;
  const Node* writer = nullptr;
  std::size_t child = 0;           // array items, map values, reader-union branch value
  std::size_t min_item_bytes = 0;  // arrays and maps: least bytes one writer item takes
  std::size_t reader_branch = 0;   // kReaderUnion: branch index in the reader union
  std::size_t fixed_size = 0;
  std::vector<std::size_t> branches;        // kWriterUnion: one step per writer branch
  std::vector<std::ptrdiff_t> enum_map;     // writer symbol index -> reader index, -1: none
  std::vector<FieldAction> fields;          // kRecord, writer order
  std::vector<std::pair<std::size_t, Datum>> defaults;  // kRecord: reader-only fields
  std::size_t reader_field_count = 0;
  std::string error;  // kError
};

struct ResolverPlan {
  Schema writer;
  Schema reader;
  bool identity = false;
  std::size_t root = 0;
  std::vector<Step> steps;
};

namespace {

// Builds the plan. Resolution of a (writer node, reader node) pair does not depend on where
// the pair occurs, so each pair is built once; a pair under construction is referenced by
// its index, which is how recursive types terminate. Places that may try an alternative
// (reader union candidates, writer union branches) snapshot the plan and roll back a
// failed attempt, so the plan never holds half-built steps.
class Builder {
 public:
  explicit Builder(ResolverPlan& plan) : plan_(plan) {}

  // On false, failure_path_/failure_reason_ say where and why.
  bool Resolve(const Node& w, const Node& r, std::size_t& out) {
    const std::uint64_t key = (static_cast<std::uint64_t>(w.id()) << 32) | r.id();
    if (auto it = memo_.find(key); it != memo_.end()) {
      out = it->second;
      return true;
    }
    const std::size_t index = plan_.steps.size();
    plan_.steps.emplace_back();
    memo_.emplace(key, index);
    journal_.push_back(key);
    Step step;
    if (!Build(w, r, step)) {
      return false;
    }
    plan_.steps[index] = std::move(step);
    out = index;
    return true;
  }

  const std::string& failure_path() const { return failure_path_; }
  const std::string& failure_reason() const { return failure_reason_; }

 private:
  struct Snapshot {
    std::size_t steps;
    std::size_t journal;
    std::size_t path;
  };

  Snapshot Take() const { return {plan_.steps.size(), journal_.size(), path_.size()}; }

  void Rollback(const Snapshot& snap) {
    plan_.steps.resize(snap.steps);
    while (journal_.size() > snap.journal) {
      memo_.erase(journal_.back());
      journal_.pop_back();
    }
    path_.resize(snap.path);
  }

  bool Fail(std::string reason) {
    failure_path_ = JsonPointer(path_);
    failure_reason_ = std::move(reason);
    return false;
  }

  static bool StrictNameMatch(const Node& w, const Node& r) {
    if (w.full_name() == r.full_name()) {
      return true;
    }
    const auto& aliases = r.aliases();
    return std::find(aliases.begin(), aliases.end(), w.full_name()) != aliases.end();
  }

  bool CheckName(const Node& w, const Node& r) {
    if (StrictNameMatch(w, r) || w.name() == r.name()) {
      return true;
    }
    return Fail(std::string(TypeName(r.type())) + " name " + r.full_name() +
                " matches neither the writer's " + w.full_name() + " nor a reader alias");
  }

  bool Build(const Node& w, const Node& r, Step& s) {
    s.writer = &w;
    if (w.type() == Type::kUnion) {
      return BuildWriterUnion(w, r, s);
    }
    if (r.type() == Type::kUnion) {
      return BuildReaderUnion(w, r, s);
    }
    if (w.type() != r.type()) {
      return BuildPromotion(w, r, s);
    }
    switch (w.type()) {
      case Type::kNull:
        s.op = Op::kNull;
        return true;
      case Type::kBoolean:
        s.op = Op::kBoolean;
        return true;
      case Type::kInt:
        s.op = Op::kInt;
        return true;
      case Type::kLong:
        s.op = Op::kLong;
        return true;
      case Type::kFloat:
        s.op = Op::kFloat;
        return true;
      case Type::kDouble:
        s.op = Op::kDouble;
        return true;
      case Type::kString:
        s.op = Op::kString;
        return true;
      case Type::kBytes:
        if (auto why = DecimalMismatch(w, r); !why.empty()) {
          return Fail(why);
        }
        s.op = Op::kBytes;
        return true;
      case Type::kFixed:
        if (!CheckName(w, r)) {
          return false;
        }
        if (w.fixed_size() != r.fixed_size()) {
          return Fail("fixed " + r.full_name() + " has size " + std::to_string(r.fixed_size()) +
                      ", the writer's has size " + std::to_string(w.fixed_size()));
        }
        if (auto why = DecimalMismatch(w, r); !why.empty()) {
          return Fail(why);
        }
        s.op = Op::kFixed;
        s.fixed_size = w.fixed_size();
        return true;
      case Type::kEnum:
        return BuildEnum(w, r, s);
      case Type::kArray: {
        s.op = Op::kArray;
        s.min_item_bytes = w.items().min_encoded_size();
        path_.push_back("items");
        if (!Resolve(w.items(), r.items(), s.child)) {
          return false;
        }
        path_.pop_back();
        return true;
      }
      case Type::kMap: {
        s.op = Op::kMap;
        s.min_item_bytes = 1 + w.values().min_encoded_size();  // key length + value
        path_.push_back("values");
        if (!Resolve(w.values(), r.values(), s.child)) {
          return false;
        }
        path_.pop_back();
        return true;
      }
      case Type::kRecord:
        return BuildRecord(w, r, s);
      case Type::kUnion:
        break;  // handled above
    }
    return Fail("unknown schema type");
  }

  bool BuildPromotion(const Node& w, const Node& r, Step& s) {
    if (!IsPromotable(w.type(), r.type())) {
      return Fail("writer type " + Describe(w) + " cannot be read as " + Describe(r));
    }
    switch (w.type()) {
      case Type::kInt:
        s.op = r.type() == Type::kLong    ? Op::kIntToLong
               : r.type() == Type::kFloat ? Op::kIntToFloat
                                          : Op::kIntToDouble;
        break;
      case Type::kLong:
        s.op = r.type() == Type::kFloat ? Op::kLongToFloat : Op::kLongToDouble;
        break;
      case Type::kFloat:
        s.op = Op::kFloatToDouble;
        break;
      case Type::kString:
        s.op = Op::kStringToBytes;
        break;
      default:  // bytes
        s.op = Op::kBytesToString;
        break;
    }
    return true;
  }

  bool BuildEnum(const Node& w, const Node& r, Step& s) {
    if (!CheckName(w, r)) {
      return false;
    }
    s.op = Op::kEnum;
    std::ptrdiff_t fallback = -1;
    if (r.enum_default()) {
      if (auto index = r.SymbolIndex(*r.enum_default())) {
        fallback = static_cast<std::ptrdiff_t>(*index);
      }
    }
    s.enum_map.reserve(w.symbols().size());
    for (const auto& symbol : w.symbols()) {
      auto index = r.SymbolIndex(symbol);
      s.enum_map.push_back(index ? static_cast<std::ptrdiff_t>(*index) : fallback);
    }
    return true;
  }

  bool BuildRecord(const Node& w, const Node& r, Step& s) {
    if (!CheckName(w, r)) {
      return false;
    }
    s.op = Op::kRecord;
    s.reader_field_count = r.fields().size();
    // For each writer field: the reader field it feeds and the step that decodes it.
    std::vector<std::pair<std::size_t, std::size_t>> targets(w.fields().size(),
                                                              {kSkip, kSkip});
    path_.push_back("fields");
    for (const Field& rf : r.fields()) {
      path_.push_back(std::to_string(rf.index()));
      const Field* wf = w.FindField(rf.name());
      for (std::size_t i = 0; wf == nullptr && i < rf.aliases().size(); ++i) {
        wf = w.FindField(rf.aliases()[i]);
      }
      if (wf == nullptr) {
        if (!rf.has_default()) {
          return Fail("reader field '" + rf.name() + "' of " + r.full_name() +
                      " has no default value and the writer has no field of that name or alias");
        }
        try {
          s.defaults.emplace_back(rf.index(), DatumFromDefault(rf.type(), rf.default_value()));
        } catch (const DecodeError& e) {
          return Fail("the default of reader field '" + rf.name() + "' does not fit its type: " +
                      e.what());
        }
      } else {
        auto& target = targets[wf->index()];
        if (target.first != kSkip) {
          return Fail("writer field '" + wf->name() + "' is matched by two reader fields, '" +
                      r.fields()[target.first].name() + "' and '" + rf.name() + "'");
        }
        path_.push_back("type");
        std::size_t step = 0;
        if (!Resolve(wf->type(), rf.type(), step)) {
          return false;
        }
        path_.pop_back();
        target = {rf.index(), step};
      }
      path_.pop_back();
    }
    path_.pop_back();
    s.fields.reserve(w.fields().size());
    for (const Field& wf : w.fields()) {
      const auto& target = targets[wf.index()];
      s.fields.push_back(FieldAction{&wf.type(), target.second, target.first});
    }
    return true;
  }

  // The writer wrote one of its branches: resolve each against the whole reader. A branch
  // that cannot be read fails only the records that carry it, unless no branch can be read.
  bool BuildWriterUnion(const Node& w, const Node& r, Step& s) {
    s.op = Op::kWriterUnion;
    std::string first_path;
    std::string first_reason;
    bool any = false;
    for (std::size_t i = 0; i < w.branches().size(); ++i) {
      const Node& branch = *w.branches()[i];
      const Snapshot snap = Take();
      std::size_t step = 0;
      if (Resolve(branch, r, step)) {
        any = true;
        s.branches.push_back(step);
        continue;
      }
      Rollback(snap);
      if (first_reason.empty()) {
        first_path = failure_path_;
        first_reason = failure_reason_;
      }
      Step error;
      error.op = Op::kError;
      error.writer = &branch;
      error.error = "writer union branch " + std::to_string(i) + " (" + Describe(branch) +
                    ") cannot be read with the reader schema at '" +
                    (failure_path_.empty() ? std::string("/") : failure_path_) +
                    "': " + failure_reason_;
      s.branches.push_back(plan_.steps.size());
      plan_.steps.push_back(std::move(error));
    }
    if (!any && !w.branches().empty()) {
      failure_path_ = first_path;
      failure_reason_ = "no branch of the writer union can be read; first: " + first_reason;
      return false;
    }
    return true;
  }

  // The writer wrote a non-union; the reader takes the first branch that resolves, trying
  // exact matches (same type and name) before promotions.
  bool BuildReaderUnion(const Node& w, const Node& r, Step& s) {
    std::vector<std::size_t> candidates;
    const auto& branches = r.branches();
    auto add = [&](auto pred) {
      for (std::size_t i = 0; i < branches.size(); ++i) {
        if (pred(*branches[i]) &&
            std::find(candidates.begin(), candidates.end(), i) == candidates.end()) {
          candidates.push_back(i);
        }
      }
    };
    add([&](const Node& b) {
      return b.type() == w.type() && (!b.is_named() || StrictNameMatch(w, b));
    });
    add([&](const Node& b) { return b.type() == w.type() && b.is_named() && b.name() == w.name(); });
    add([&](const Node& b) { return IsPromotable(w.type(), b.type()); });
    std::string first_path;
    std::string first_reason;
    for (std::size_t i : candidates) {
      const Snapshot snap = Take();
      path_.push_back(std::to_string(i));
      std::size_t step = 0;
      if (Resolve(w, *branches[i], step)) {
        path_.pop_back();
        s.op = Op::kReaderUnion;
        s.reader_branch = i;
        s.child = step;
        return true;
      }
      if (first_reason.empty()) {
        first_path = failure_path_;
        first_reason = failure_reason_;
      }
      Rollback(snap);
    }
    if (!first_reason.empty()) {
      failure_path_ = first_path;
      failure_reason_ = first_reason;
      return false;
    }
    return Fail("the reader union has no branch for writer type " + Describe(w));
  }

  ResolverPlan& plan_;
  std::vector<std::string> path_;
  std::unordered_map<std::uint64_t, std::size_t> memo_;
  std::vector<std::uint64_t> journal_;
  std::string failure_path_;
  std::string failure_reason_;
};

// Keeps the reader's nesting depth balanced even when decoding throws.
class Nest {
 public:
  explicit Nest(BinaryReader& in) : in_(in) { in_.Enter(); }
  ~Nest() { in_.Leave(); }
  Nest(const Nest&) = delete;
  Nest& operator=(const Nest&) = delete;

 private:
  BinaryReader& in_;
};

Datum Run(const ResolverPlan& plan, std::size_t index, BinaryReader& in) {
  const Step& s = plan.steps[index];
  switch (s.op) {
    case Op::kNull:
      return Null{};
    case Op::kBoolean:
      return in.ReadBoolean();
    case Op::kInt:
      return in.ReadInt();
    case Op::kLong:
      return in.ReadLong();
    case Op::kFloat:
      return in.ReadFloat();
    case Op::kDouble:
      return in.ReadDouble();
    case Op::kBytes:
      return Bytes{std::string(in.ReadBytesView())};
    case Op::kString:
      return std::string(in.ReadBytesView());
    case Op::kIntToLong:
      return static_cast<std::int64_t>(in.ReadInt());
    case Op::kIntToFloat:
      return static_cast<float>(in.ReadInt());
    case Op::kIntToDouble:
      return static_cast<double>(in.ReadInt());
    case Op::kLongToFloat:
      return static_cast<float>(in.ReadLong());
    case Op::kLongToDouble:
      return static_cast<double>(in.ReadLong());
    case Op::kFloatToDouble:
      return static_cast<double>(in.ReadFloat());
    case Op::kStringToBytes:
      return Bytes{std::string(in.ReadBytesView())};
    case Op::kBytesToString:
      return std::string(in.ReadBytesView());
    case Op::kFixed:
      return Fixed{std::string(in.ReadFixedView(s.fixed_size))};
    case Op::kEnum: {
      const std::size_t at = in.offset();
      const std::int32_t symbol = in.ReadInt();
      if (symbol < 0 || static_cast<std::size_t>(symbol) >= s.enum_map.size()) {
        throw DecodeError(at, "enum index " + std::to_string(symbol) + " out of range for " +
                                  s.writer->full_name());
      }
      const std::ptrdiff_t mapped = s.enum_map[static_cast<std::size_t>(symbol)];
      if (mapped < 0) {
        throw DecodeError(at, "writer symbol '" + s.writer->symbols()[symbol] + "' of enum " +
                                  s.writer->full_name() +
                                  " is not in the reader's enum, which has no default");
      }
      return EnumValue{static_cast<std::size_t>(mapped)};
    }
    case Op::kArray: {
      Nest nest(in);
      Array array;
      std::size_t count = 0;
      while (std::size_t block = in.ReadBlockCount(s.min_item_bytes, count)) {
        for (std::size_t i = 0; i < block; ++i) {
          array.items.push_back(Run(plan, s.child, in));
        }
        count += block;
      }
      return array;
    }
    case Op::kMap: {
      Nest nest(in);
      Map map;
      std::size_t count = 0;
      while (std::size_t block = in.ReadBlockCount(s.min_item_bytes, count)) {
        for (std::size_t i = 0; i < block; ++i) {
          std::string key(in.ReadBytesView());
          Datum value = Run(plan, s.child, in);
          map.entries.emplace_back(std::move(key), std::move(value));
        }
        count += block;
      }
      return map;
    }
    case Op::kRecord: {
      Nest nest(in);
      Record record;
      record.fields.resize(s.reader_field_count);
      for (const auto& [index_in_reader, value] : s.defaults) {
        record.fields[index_in_reader] = value;
      }
      for (const FieldAction& action : s.fields) {
        if (action.step == kSkip) {
          SkipValue(*action.writer_type, in);
        } else {
          record.fields[action.reader_index] = Run(plan, action.step, in);
        }
      }
      return record;
    }
    case Op::kWriterUnion: {
      const std::size_t at = in.offset();
      const std::int64_t branch = in.ReadLong();
      if (branch < 0 || static_cast<std::uint64_t>(branch) >= s.branches.size()) {
        throw DecodeError(at, "union branch " + std::to_string(branch) + " out of range (" +
                                  std::to_string(s.branches.size()) + " branches)");
      }
      // No depth of its own (as in the codec): a union's branch is never a union, so the
      // branch's own record/array/map counts the nesting.
      return Run(plan, s.branches[static_cast<std::size_t>(branch)], in);
    }
    case Op::kReaderUnion:
      return Union(s.reader_branch, Run(plan, s.child, in));
    case Op::kError:
      throw DecodeError(in.offset(), s.error);
  }
  throw DecodeError(in.offset(), "corrupt resolution plan");
}

}  // namespace
}  // namespace detail

Resolver Resolver::Build(const Schema& writer, const Schema& reader) {
  auto plan = std::make_shared<detail::ResolverPlan>();
  plan->writer = writer;
  plan->reader = reader;
  // The plan is always built, even for identical canonical forms: canonical form drops
  // logical types, and a decimal whose scale changed must still be refused.
  detail::Builder builder(*plan);
  if (!builder.Resolve(plan->writer.root(), plan->reader.root(), plan->root)) {
    throw ResolutionError(builder.failure_path(), builder.failure_reason());
  }
  const bool clean = std::none_of(plan->steps.begin(), plan->steps.end(),
                                  [](const detail::Step& s) { return s.op == detail::Op::kError; });
  plan->identity = clean && CanonicalForm(writer) == CanonicalForm(reader);
  return Resolver(std::move(plan));
}

const Schema& Resolver::writer() const { return plan_->writer; }
const Schema& Resolver::reader() const { return plan_->reader; }
bool Resolver::is_identity() const { return plan_->identity; }

Datum Decode(const Resolver& resolver, BinaryReader& in) {
  const detail::ResolverPlan& plan = *resolver.plan_;
  if (plan.identity) {
    return Decode(plan.reader.root(), in);
  }
  return detail::Run(plan, plan.root, in);
}

Datum Decode(const Resolver& resolver, std::string_view writer_bytes, const DecodeLimits& limits) {
  BinaryReader in(writer_bytes, limits);
  Datum datum = Decode(resolver, in);
  if (!in.at_end()) {
    throw DecodeError(in.offset(), std::to_string(in.remaining()) +
                                       " trailing bytes after the datum");
  }
  return datum;
}

}  // namespace sluice::avro
