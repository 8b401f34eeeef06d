#pragma once
// The node table behind a Schema (private to the avro module).
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sluice/avro/schema.hpp"

namespace sluice::avro::detail {

struct SchemaData {
  std::vector<std::unique_ptr<Node>> nodes;  // owns every node; ids index this vector
  const Node* root = nullptr;
  std::vector<const Node*> named;            // definition order
  std::map<std::string, const Node*, std::less<>> by_name;
};

}  // namespace sluice::avro::detail
