#pragma once
// Internal to the enricher: the arithmetic of derive's `function: expression`, e.g.
// "round(amount / price, 2)". Parsed once when the step is built (a syntax error is a
// ConfigError-worthy ExpressionError with its position); evaluated per record. Immutable
// after construction, so a parsed expression may be shared.
//
//   expr    := term (('+' | '-') term)*
//   term    := unary (('*' | '/') unary)*
//   unary   := '-' unary | primary
//   primary := number | field | function '(' expr (',' expr)* ')' | '(' expr ')'
//
// Numbers are doubles. A field is a name ([A-Za-z_][A-Za-z0-9_]*) not followed by '(';
// functions are round(x) / round(x, n) with n a whole literal 0-15, and coalesce(a, b, ...).
// Null propagates through + - * / and round; coalesce gives its first non-null argument.
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "sluice/stages/row.hpp"

namespace sluice::stages::steps {

// A syntax error: `position` is the 1-based character where it was found.
class ExpressionError : public std::runtime_error {
 public:
  ExpressionError(std::size_t position, const std::string& problem)
      : std::runtime_error("at character " + std::to_string(position) + ": " + problem),
        position_(position) {}
  std::size_t position() const { return position_; }

 private:
  std::size_t position_;
};

class Expression {
 public:
  // Throws ExpressionError.
  explicit Expression(std::string text);

  // The value for `row`: a double or null. nullopt + *why when the record cannot have one
  // (division by zero, a field that is not a number, a result that is not finite).
  std::optional<Value> Evaluate(const Row& row, std::string* why) const;

  // Every field the expression reads, once each, in order of first appearance.
  const std::vector<std::string>& Fields() const { return fields_; }
  const std::string& Text() const { return text_; }

  struct Node;

 private:
  std::string text_;
  std::shared_ptr<const Node> root_;
  std::vector<std::string> fields_;
};

}  // namespace sluice::stages::steps
