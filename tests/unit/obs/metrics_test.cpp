#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "sluice/obs/metrics.hpp"

using namespace sluice::obs;

TEST_CASE("counters and gauges render in the Prometheus text format") {
  Registry r;
  auto& in = r.AddCounter("sluice_records_in_total", "Records read.").Get();
  in.Inc();
  in.Inc(2);
  auto& rejected = r.AddCounter("sluice_records_rejected_total", "Rejected, by reason.", {"reason"});
  rejected.With({"range"}).Inc();
  rejected.With({"bad \"quote\"\\path\nnext"}).Inc(4);
  r.AddGauge("sluice_consumer_lag", "Lag.", {"topic", "partition"}).With({"loans.raw", "0"}).Set(12.5);
  CHECK(r.Render() ==
        "# HELP sluice_records_in_total Records read.\n"
        "# TYPE sluice_records_in_total counter\n"
        "sluice_records_in_total 3\n"
        "# HELP sluice_records_rejected_total Rejected, by reason.\n"
        "# TYPE sluice_records_rejected_total counter\n"
        "sluice_records_rejected_total{reason=\"bad \\\"quote\\\"\\\\path\\nnext\"} 4\n"
        "sluice_records_rejected_total{reason=\"range\"} 1\n"
        "# HELP sluice_consumer_lag Lag.\n"
        "# TYPE sluice_consumer_lag gauge\n"
        "sluice_consumer_lag{topic=\"loans.raw\",partition=\"0\"} 12.5\n");
}

TEST_CASE("histograms render cumulative buckets, +Inf, _sum and _count") {
  Registry r;
  auto& h = r.AddHistogram("sluice_batch_seconds", "Batch time.", {0.1, 1}, {"stage"})
                .With({"cleaner"});
  h.Observe(0.05);
  h.Observe(0.1);  // on the bound: counts in le="0.1"
  h.Observe(0.5);
  h.Observe(7);
  CHECK(r.Render() ==
        "# HELP sluice_batch_seconds Batch time.\n"
        "# TYPE sluice_batch_seconds histogram\n"
        "sluice_batch_seconds_bucket{stage=\"cleaner\",le=\"0.1\"} 2\n"
        "sluice_batch_seconds_bucket{stage=\"cleaner\",le=\"1\"} 3\n"
        "sluice_batch_seconds_bucket{stage=\"cleaner\",le=\"+Inf\"} 4\n"
        "sluice_batch_seconds_sum{stage=\"cleaner\"} 7.65\n"
        "sluice_batch_seconds_count{stage=\"cleaner\"} 4\n");
}

TEST_CASE("help text is escaped and values are formatted exactly") {
  CHECK(EscapeHelp("a\\b\nc") == "a\\\\b\\nc");
  CHECK(FormatValue(1e21) == "1e+21");
  CHECK(FormatValue(0.25) == "0.25");
  CHECK(FormatValue(-3) == "-3");
  CHECK(FormatValue(1.0 / 0.0) == "+Inf");
}

TEST_CASE("re-registering returns the same family") {
  Registry r;
  auto& a = r.AddCounter("x_total", "x");
  auto& b = r.AddCounter("x_total", "x");
  CHECK(&a == &b);
  CHECK(&a.Get() == &b.Get());
}

TEST_CASE("the standard set registers every shared metric name") {
  Registry r;
  auto m = StandardMetrics::Register(r);
  m.records_in.Inc();
  m.records_out.Inc();
  m.records_rejected.With({"required"}).Inc();
  m.consumer_lag.With({"t", "1"}).Set(3);
  m.batch_seconds.Observe(0.2);
  m.end_to_end_seconds.Observe(1.5);
  std::string text = r.Render();
  for (const char* line :
       {"# TYPE sluice_records_in_total counter\nsluice_records_in_total 1\n",
        "# TYPE sluice_records_out_total counter\nsluice_records_out_total 1\n",
        "sluice_records_rejected_total{reason=\"required\"} 1\n",
        "sluice_consumer_lag{topic=\"t\",partition=\"1\"} 3\n",
        "# TYPE sluice_batch_seconds histogram\n", "sluice_batch_seconds_count 1\n",
        "# TYPE sluice_end_to_end_seconds histogram\n",
        "sluice_end_to_end_seconds_bucket{le=\"2.5\"} 1\n"}) {
    INFO(line);
    CHECK(text.find(line) != std::string::npos);
  }
  // Registering twice (two components of one daemon) is harmless.
  auto again = StandardMetrics::Register(r);
  CHECK(&again.records_in == &m.records_in);
}

TEST_CASE("concurrent increments are not lost") {
  Registry r;
  auto& c = r.AddCounter("c_total", "c").Get();
  auto& family = r.AddCounter("l_total", "l", {"k"});
  auto& h = r.AddHistogram("h_seconds", "h", {1}).Get();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        c.Inc();
        family.With({std::to_string(i % 3)}).Inc();
        h.Observe(t % 2 ? 0.5 : 2);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(c.Value() == 40000);
  double labelled = 0;
  family.ForEach([&](const auto&, const Counter& s) { labelled += s.Value(); });
  CHECK(labelled == 40000);
  auto snap = h.Snap();
  CHECK(snap.count == 40000);
  CHECK(snap.cumulative[0] == 20000);
}
