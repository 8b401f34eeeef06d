#include "expression.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace sluice::stages::steps {

struct Expression::Node {
  enum class Kind { kNumber, kField, kNegate, kAdd, kSubtract, kMultiply, kDivide, kRound, kCoalesce };
  Kind kind = Kind::kNumber;
  double number = 0;         // kNumber
  std::string field;         // kField
  int decimals = 0;          // kRound
  std::vector<std::shared_ptr<const Node>> args;
  std::size_t begin = 0, end = 0;  // the node's text: text_[begin, end)
};

namespace {

using Node = Expression::Node;
using NodePtr = std::shared_ptr<const Node>;

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsNameChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Recursive descent over the grammar in expression.hpp. Positions in errors are 1-based.
class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  NodePtr Parse() {
    SkipBlanks();
    if (at_ == text_.size()) throw ExpressionError(1, "the expression is empty");
    NodePtr root = Sum();
    SkipBlanks();
    if (at_ < text_.size()) Fail("unexpected '" + std::string(1, text_[at_]) + "'");
    return root;
  }

  std::vector<std::string> fields;  // in order of first appearance

 private:
  [[noreturn]] void Fail(const std::string& problem) const { throw ExpressionError(at_ + 1, problem); }

  void SkipBlanks() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\t')) ++at_;
  }

  // The next non-blank character is `c`: consume it.
  bool Accept(char c) {
    SkipBlanks();
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  void Expect(char c, const std::string& context) {
    if (Accept(c)) return;
    Fail("expected '" + std::string(1, c) + "' " + context +
         (at_ < text_.size() ? ", got '" + std::string(1, text_[at_]) + "'" : ", got the end"));
  }

  static NodePtr Binary(Node::Kind kind, NodePtr left, NodePtr right) {
    auto n = std::make_shared<Node>();
    n->kind = kind;
    n->begin = left->begin;
    n->end = right->end;
    n->args = {std::move(left), std::move(right)};
    return n;
  }

  NodePtr Sum() {
    NodePtr left = Product();
    for (;;) {
      if (Accept('+')) left = Binary(Node::Kind::kAdd, left, Product());
      else if (Accept('-')) left = Binary(Node::Kind::kSubtract, left, Product());
      else return left;
    }
  }

  NodePtr Product() {
    NodePtr left = Unary();
    for (;;) {
      if (Accept('*')) left = Binary(Node::Kind::kMultiply, left, Unary());
      else if (Accept('/')) left = Binary(Node::Kind::kDivide, left, Unary());
      else return left;
    }
  }

  NodePtr Unary() {
    SkipBlanks();
    const std::size_t begin = at_;
    if (Accept('-')) {
      auto n = std::make_shared<Node>();
      n->kind = Node::Kind::kNegate;
      n->args = {Unary()};
      n->begin = begin;
      n->end = n->args[0]->end;
      return n;
    }
    return Primary();
  }

  NodePtr Primary() {
    SkipBlanks();
    if (at_ == text_.size()) Fail("expected a number, a field, a function or '(', got the end");
    const std::size_t begin = at_;
    const char c = text_[at_];
    if (c == '(') {
      ++at_;
      NodePtr inner = Sum();
      Expect(')', "to close the '(' at character " + std::to_string(begin + 1));
      auto wrapped = std::make_shared<Node>(*inner);  // spans the parentheses, for messages
      wrapped->begin = begin;
      wrapped->end = at_;
      return wrapped;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return Number();
    if (!IsNameStart(c)) Fail("expected a number, a field, a function or '(', got '" + std::string(1, c) + "'");
    while (at_ < text_.size() && IsNameChar(text_[at_])) ++at_;
    const std::string name = text_.substr(begin, at_ - begin);
    SkipBlanks();
    if (at_ < text_.size() && text_[at_] == '(') return Call(name, begin);
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kField;
    n->field = name;
    n->begin = begin;
    n->end = begin + name.size();
    if (std::find(fields.begin(), fields.end(), name) == fields.end()) fields.push_back(name);
    return n;
  }

  NodePtr Number() {
    const std::size_t begin = at_;
    while (at_ < text_.size() && (std::isdigit(static_cast<unsigned char>(text_[at_])) || text_[at_] == '.')) ++at_;
    if (at_ < text_.size() && (text_[at_] == 'e' || text_[at_] == 'E')) {
      ++at_;
      if (at_ < text_.size() && (text_[at_] == '+' || text_[at_] == '-')) ++at_;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    }
    auto n = std::make_shared<Node>();
    n->kind = Node::Kind::kNumber;
    n->begin = begin;
    n->end = at_;
    const char* first = text_.data() + begin;
    const char* last = text_.data() + at_;
    auto [ptr, ec] = std::from_chars(first, last, n->number);
    if (ec != std::errc() || ptr != last || !std::isfinite(n->number)) {
      at_ = begin;
      Fail("'" + std::string(first, last) + "' is not a number");
    }
    if (at_ < text_.size() && IsNameChar(text_[at_])) Fail("unexpected '" + std::string(1, text_[at_]) + "' after a number");
    return n;
  }

  NodePtr Call(const std::string& name, std::size_t begin) {
    auto n = std::make_shared<Node>();
    n->begin = begin;
    if (name == "round") {
      n->kind = Node::Kind::kRound;
    } else if (name == "coalesce") {
      n->kind = Node::Kind::kCoalesce;
    } else {
      at_ = begin;
      Fail("unknown function '" + name + "' (functions: round, coalesce)");
    }
    Expect('(', "after " + name);
    n->args.push_back(Sum());
    bool decimals = false;
    while (Accept(',')) {
      SkipBlanks();
      if (n->kind == Node::Kind::kRound) {
        if (decimals) Fail("round takes at most 2 arguments: round(x) or round(x, decimals)");
        n->decimals = Decimals();
        decimals = true;
        continue;
      }
      n->args.push_back(Sum());
    }
    Expect(')', "to close " + name + "(");
    n->end = at_;
    return n;
  }

  // round's second argument: a whole literal 0-15 (so the step can't fail on it per record).
  int Decimals() {
    const std::size_t begin = at_;
    while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_]))) ++at_;
    int decimals = -1;
    std::from_chars(text_.data() + begin, text_.data() + at_, decimals);
    const bool more = at_ < text_.size() && (IsNameChar(text_[at_]) || text_[at_] == '.');
    if (at_ == begin || more || decimals > 15) {
      at_ = begin;
      Fail("round's decimals must be a whole number from 0 to 15");
    }
    return decimals;
  }

  const std::string& text_;
  std::size_t at_ = 0;
};

std::string Show(double d) { return Describe(Value{d}); }

}  // namespace

Expression::Expression(std::string text) : text_(std::move(text)) {
  Parser parser(text_);
  root_ = parser.Parse();
  fields_ = std::move(parser.fields);
}

namespace {

// *out = nullopt is a null result; false + *why: the record has no value.
bool Eval(const Node& n, const Row& row, const std::string& text, std::optional<double>* out,
          std::string* why) {
  using K = Node::Kind;
  switch (n.kind) {
    case K::kNumber:
      *out = n.number;
      return true;
    case K::kField: {
      const Value& v = row.Get(n.field);
      if (IsNull(v)) {
        *out = std::nullopt;
        return true;
      }
      auto x = AsNumber(v);
      if (!x || !std::isfinite(*x)) {
        *why = n.field + " is " + Describe(v) + ", not a number";
        return false;
      }
      *out = *x;
      return true;
    }
    case K::kCoalesce:
      for (const auto& arg : n.args) {
        if (!Eval(*arg, row, text, out, why)) return false;
        if (*out) return true;
      }
      return true;
    default:
      break;
  }
  std::vector<double> xs;
  for (const auto& arg : n.args) {
    std::optional<double> x;
    if (!Eval(*arg, row, text, &x, why)) return false;
    if (!x) {
      *out = std::nullopt;  // null in, null out
      return true;
    }
    xs.push_back(*x);
  }
  switch (n.kind) {
    case K::kNegate: *out = -xs[0]; break;
    case K::kAdd: *out = xs[0] + xs[1]; break;
    case K::kSubtract: *out = xs[0] - xs[1]; break;
    case K::kMultiply: *out = xs[0] * xs[1]; break;
    case K::kDivide: {
      if (xs[1] == 0) {
        const Node& d = *n.args[1];
        *why = "division by zero in '" + text.substr(n.begin, n.end - n.begin) + "' (" +
               text.substr(d.begin, d.end - d.begin) + " is 0)";
        return false;
      }
      *out = xs[0] / xs[1];
      break;
    }
    case K::kRound: *out = RoundDecimal(xs[0], n.decimals); break;
    default: break;
  }
  if (!std::isfinite(**out)) {
    *why = "'" + text.substr(n.begin, n.end - n.begin) + "' is " + Show(**out) + ", not a finite number";
    return false;
  }
  return true;
}

}  // namespace

std::optional<Value> Expression::Evaluate(const Row& row, std::string* why) const {
  std::optional<double> out;
  if (!Eval(*root_, row, text_, &out, why)) return std::nullopt;
  if (!out) return Value{Null{}};
  return Value{*out};
}

}  // namespace sluice::stages::steps
