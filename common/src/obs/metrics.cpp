#include "sluice/obs/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "sluice/core/error.hpp"

namespace sluice::obs {

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  SLUICE_ASSERT(std::is_sorted(bounds_.begin(), bounds_.end()), "histogram bounds must ascend");
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::Observe(double v) noexcept {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Snap() const {
  Snapshot s;
  s.bounds = bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // The +Inf bucket must equal _count; use the bucket total so a render racing an Observe
  // stays self-consistent.
  s.count = running;
  return s;
}

std::vector<double> LatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

template <class M>
M& Family<M>::With(const std::vector<std::string>& label_values) {
  SLUICE_ASSERT(label_values.size() == label_names_.size(),
                "label value count must match the family's label names");
  std::lock_guard lock(mu_);
  auto it = series_.find(label_values);
  if (it != series_.end()) return *it->second;
  std::unique_ptr<M> series;
  if constexpr (std::is_same_v<M, Histogram>) {
    series = std::make_unique<M>(bounds_);
  } else {
    series = std::make_unique<M>();
  }
  return *series_.emplace(label_values, std::move(series)).first->second;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Registry::Entry* Registry::Find(const std::string& name) {
  auto it = entries_.find(name);
  return it == entries_.end() ? nullptr : &it->second;
}

namespace {

void CheckName(const std::string& name) {
  bool ok = !name.empty() && !(name[0] >= '0' && name[0] <= '9');
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == ':');
  }
  SLUICE_ASSERT(ok, "invalid metric or label name");
}

template <class F>
void CheckSame(const F& family, const std::vector<std::string>& labels) {
  SLUICE_ASSERT(family.LabelNames() == labels, "metric re-registered with different labels");
}

}  // namespace

Family<Counter>& Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  CheckName(name);
  for (const auto& l : label_names) CheckName(l);
  std::lock_guard lock(mu_);
  if (auto* e = Find(name)) {
    SLUICE_ASSERT(e->type == MetricType::kCounter, "metric re-registered with another type");
    CheckSame(*e->counter, label_names);
    return *e->counter;
  }
  Entry e{MetricType::kCounter, std::make_unique<Family<Counter>>(name, help, label_names), {}, {}};
  order_.push_back(name);
  return *entries_.emplace(name, std::move(e)).first->second.counter;
}

Family<Gauge>& Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  CheckName(name);
  for (const auto& l : label_names) CheckName(l);
  std::lock_guard lock(mu_);
  if (auto* e = Find(name)) {
    SLUICE_ASSERT(e->type == MetricType::kGauge, "metric re-registered with another type");
    CheckSame(*e->gauge, label_names);
    return *e->gauge;
  }
  Entry e{MetricType::kGauge, {}, std::make_unique<Family<Gauge>>(name, help, label_names), {}};
  order_.push_back(name);
  return *entries_.emplace(name, std::move(e)).first->second.gauge;
}

Family<Histogram>& Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  CheckName(name);
  for (const auto& l : label_names) {
    CheckName(l);
    SLUICE_ASSERT(l != "le", "'le' is reserved for histogram buckets");
  }
  std::lock_guard lock(mu_);
  if (auto* e = Find(name)) {
    SLUICE_ASSERT(e->type == MetricType::kHistogram, "metric re-registered with another type");
    CheckSame(*e->histogram, label_names);
    return *e->histogram;
  }
  Entry e{MetricType::kHistogram, {}, {},
          std::make_unique<Family<Histogram>>(name, help, label_names, std::move(bounds))};
  order_.push_back(name);
  return *entries_.emplace(name, std::move(e)).first->second.histogram;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

namespace {

// {a="x",b="y"} with an optional extra label appended (le for buckets); "" when empty.
std::string Labels(const std::vector<std::string>& names, const std::vector<std::string>& values,
                   const std::string& extra_name = {}, const std::string& extra_value = {}) {
  if (names.empty() && extra_name.empty()) return {};
  std::string out = "{";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += names[i] + "=\"" + EscapeLabelValue(values[i]) + '"';
  }
  if (!extra_name.empty()) {
    if (!names.empty()) out += ',';
    out += extra_name + "=\"" + EscapeLabelValue(extra_value) + '"';
  }
  return out + "}";
}

template <class F>
void Header(std::string& out, const F& family, const char* type) {
  out += "# HELP " + family.Name() + ' ' + EscapeHelp(family.Help()) + '\n';
  out += "# TYPE " + family.Name() + ' ' + type + '\n';
}

}  // namespace

std::string Registry::Render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& name : order_) {
    const Entry& e = entries_.at(name);
    switch (e.type) {
      case MetricType::kCounter:
        Header(out, *e.counter, "counter");
        e.counter->ForEach([&](const auto& values, const Counter& c) {
          out += name + Labels(e.counter->LabelNames(), values) + ' ' + FormatValue(c.Value()) +
                 '\n';
        });
        break;
      case MetricType::kGauge:
        Header(out, *e.gauge, "gauge");
        e.gauge->ForEach([&](const auto& values, const Gauge& g) {
          out += name + Labels(e.gauge->LabelNames(), values) + ' ' + FormatValue(g.Value()) +
                 '\n';
        });
        break;
      case MetricType::kHistogram: {
        Header(out, *e.histogram, "histogram");
        const auto& label_names = e.histogram->LabelNames();
        e.histogram->ForEach([&](const auto& values, const Histogram& h) {
          auto snap = h.Snap();
          for (size_t i = 0; i <= snap.bounds.size(); ++i) {
            std::string le = i < snap.bounds.size() ? FormatValue(snap.bounds[i]) : "+Inf";
            out += name + "_bucket" + Labels(label_names, values, "le", le) + ' ' +
                   std::to_string(snap.cumulative[i]) + '\n';
          }
          out += name + "_sum" + Labels(label_names, values) + ' ' + FormatValue(snap.sum) + '\n';
          out += name + "_count" + Labels(label_names, values) + ' ' +
                 std::to_string(snap.count) + '\n';
        });
        break;
      }
    }
  }
  return out;
}

StandardMetrics StandardMetrics::Register(Registry& r) {
  return StandardMetrics{
      r.AddCounter("sluice_records_in_total", "Records read from this stage's input.").Get(),
      r.AddCounter("sluice_records_out_total", "Records written to this stage's output.").Get(),
      r.AddCounter("sluice_records_rejected_total",
                   "Records sent to the dead-letter topic, by reason.", {"reason"}),
      r.AddGauge("sluice_consumer_lag",
                 "Messages between the consumer position and the partition end.",
                 {"topic", "partition"}),
      r.AddHistogram("sluice_batch_seconds", "Time to process and commit one batch.").Get(),
      r.AddHistogram("sluice_end_to_end_seconds",
                     "Time from the source timestamp to this stage's output.")
          .Get(),
  };
}

}  // namespace sluice::obs
