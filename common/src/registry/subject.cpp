#include "sluice/registry/subject.hpp"

namespace sluice::registry {

SubjectName TopicNameStrategy(std::string_view topic, SubjectKind kind) {
  std::string name(topic);
  name += kind == SubjectKind::kKey ? "-key" : "-value";
  return SubjectName(std::move(name));
}

}  // namespace sluice::registry
