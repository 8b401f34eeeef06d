#include "step.hpp"

namespace sluice::stages::steps {

void DeclareStepName(config::Section& s, const std::string& example) {
  s.Add("name", config::OptionType::kString).Describe("Step name in logs and DLQ headers; defaults to the type and index").Example(example);
}

}  // namespace sluice::stages::steps
