#pragma once
// Prometheus metrics: counters, gauges and histograms with labels, rendered in the text
// exposition format (version 0.0.4). Increments are lock-free atomics; only creating a new
// label combination takes a lock, so hot paths should look up their series once and keep the
// reference (references stay valid for the registry's lifetime).
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sluice::obs {

// A monotonically increasing value. Thread-safe; Inc is one atomic add.
class Counter {
 public:
  void Inc(double by = 1.0) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// A value that goes up and down. Thread-safe.
class Gauge {
 public:
  void Set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void Inc(double by = 1.0) noexcept { value_.fetch_add(by, std::memory_order_relaxed); }
  void Dec(double by = 1.0) noexcept { value_.fetch_sub(by, std::memory_order_relaxed); }
  double Value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Observations counted into fixed upper bounds (plus +Inf). Thread-safe; Observe is a short
// linear search and two atomic adds.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double v) noexcept;

  struct Snapshot {
    std::vector<double> bounds;       // upper bounds, ascending, without +Inf
    std::vector<uint64_t> cumulative;  // one per bound, then one for +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Snap() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 buckets
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

// Default buckets for latencies in seconds (1 ms .. 60 s).
std::vector<double> LatencyBuckets();

enum class MetricType { kCounter, kGauge, kHistogram };

// All series of one metric name, one per combination of label values. Thread-safe.
template <class M>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}

  // The series for these label values (one per label name, in declaration order).
  M& With(const std::vector<std::string>& label_values);
  // The series of a family declared without labels.
  M& Get() { return With({}); }

  const std::string& Name() const { return name_; }
  const std::string& Help() const { return help_; }
  const std::vector<std::string>& LabelNames() const { return label_names_; }
  const std::vector<double>& Bounds() const { return bounds_; }

  // Calls fn(label_values, series) for each series, sorted by label values.
  template <class Fn>
  void ForEach(Fn&& fn) const {
    std::lock_guard lock(mu_);
    for (const auto& [labels, series] : series_) fn(labels, *series);
  }

 private:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

// Owns metric families and renders them. Registering the same name twice with the same type
// and labels returns the existing family; a conflicting re-registration is a programmer error.
// Thread-safe.
class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds = LatencyBuckets(),
                                  std::vector<std::string> label_names = {});

  // The Prometheus text exposition format, families in registration order.
  std::string Render() const;

 private:
  struct Entry {
    MetricType type;
    std::unique_ptr<Family<Counter>> counter;
    std::unique_ptr<Family<Gauge>> gauge;
    std::unique_ptr<Family<Histogram>> histogram;
  };
  Entry* Find(const std::string& name);

  mutable std::mutex mu_;
  std::vector<std::string> order_;
  std::map<std::string, Entry> entries_;
};

// The metrics every daemon exports (docs/architecture.md, "Operations"). Register once per
// registry.
struct StandardMetrics {
  Counter& records_in;                // sluice_records_in_total
  Counter& records_out;               // sluice_records_out_total
  Family<Counter>& records_rejected;  // sluice_records_rejected_total{reason}
  Family<Gauge>& consumer_lag;        // sluice_consumer_lag{topic,partition}
  Histogram& batch_seconds;           // sluice_batch_seconds
  Histogram& end_to_end_seconds;      // sluice_end_to_end_seconds

  static StandardMetrics Register(Registry& registry);
};

// Escaping used by the text format, exposed for tests.
std::string EscapeLabelValue(const std::string& value);
std::string EscapeHelp(const std::string& help);
std::string FormatValue(double v);

}  // namespace sluice::obs
