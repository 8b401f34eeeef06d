#pragma once
// Internal to the enricher: the base of every step type. Each step type lives in its own
// file in this folder - its declaration (options, examples), its factory and its logic - and
// the enricher's table (enricher.cpp, EnricherSteps) lists them.
#include <string>
#include <vector>

#include "sluice/stages/component.hpp"
#include "sluice/stages/enricher.hpp"

namespace sluice::stages::steps {

class Step {
 public:
  explicit Step(const ComponentInput& in) : name_(in.name) {}
  virtual ~Step() = default;
  // false + *reason: reject the record.
  virtual bool Apply(Row& row, SteadyTime now, EnrichResult& result, std::string* reason) = 0;
  virtual std::vector<FieldUse> Fields() const = 0;
  const std::string& name() const { return name_; }

 protected:
  std::string name_;
};

using StepType = ComponentType<Step, const EnricherDeps&>;

// The options every step has.
void DeclareStepName(config::Section& s, const std::string& example);

StepType PgLookupStep();
StepType DeriveStep();
StepType HttpLookupStep();
StepType PgAsofLookupStep();

}  // namespace sluice::stages::steps
