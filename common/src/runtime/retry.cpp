#include "sluice/runtime/retry.hpp"

namespace sluice::runtime {

RetryPolicy RetryPolicy::FromConfig(const config::View& retry_section) {
  RetryPolicy p;
  p.initial_backoff = retry_section.Duration("initial_backoff");
  p.max_backoff = retry_section.Duration("max_backoff");
  p.budget = retry_section.Duration("budget");
  if (p.initial_backoff.count() <= 0) p.initial_backoff = core::Duration(1);
  return p;
}

}  // namespace sluice::runtime
