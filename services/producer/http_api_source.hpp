#pragma once
// The http source plug-in of the source loop (runtime::SourceLoop): polls a JSON API page by
// page (stages::HttpPageReader reads each page), incrementally from the last committed
// position, politely (a request rate limit; Retry-After on 429/503; exponential backoff with
// jitter on 5xx, timeouts and refused connections), exactly once.
//
// Position (one per source, key "sweep"): stages::HttpPosition - the sweep's {cursor}, the
// page being read and how many of its records were taken, the greatest cursor value read. It
// is written in the same Kafka transaction as the records, so a restart re-requests the page
// it was in and skips the records already taken: nothing skipped, nothing repeated (a page's
// content must not change between the two requests: true of history APIs, whose pages are
// slices of the past).
//
// Failures:
// - an infrastructure fault (refused connection, timeout, 5xx, 429) is retried for the
//   pipeline's retry budget (retry.budget), then the daemon exits 1 naming the request and
//   the last error; it never goes to the DLQ;
// - another 4xx (401, 403, 404, 400...) is a configuration problem: the daemon exits 2 with
//   the status and the start of the body;
// - a page that cannot be read (not JSON, over a limit) goes to the DLQ (http_page) with its
//   URL, page and reason; the sweep moves past it when the pagination names the next page
//   without it (page, offset), otherwise the page is retried like an outage and the daemon
//   stops when the budget is spent (it is dead-lettered once);
// - a record that does not fit the raw schema goes to the DLQ (http_record) with the reason.
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "sluice/http/client.hpp"
#include "sluice/obs/log.hpp"
#include "sluice/runtime/retry.hpp"
#include "sluice/runtime/source_loop.hpp"
#include "sluice/stages/http_source.hpp"

namespace sluice::producer {

// One http entry of producer.sources.
struct HttpApiSourceOptions {
  stages::HttpSourceSettings settings;
  stages::RecordSpec raw;               // the raw schema's fields
  std::vector<std::string> key_fields;  // producer.key: values joined with '|'
  bool once = false;                    // one sweep, then finish
  runtime::RetryPolicy retry;           // backoff and budget for failing requests
  std::size_t max_dlq_bytes = 921'600;  // a dead-lettered page body is cut to this
  stages::EnvLookup env;                // {env:NAME}; default: the process environment
};

class HttpApiSource : public runtime::Source {
 public:
  HttpApiSource(HttpApiSourceOptions options, obs::Logger log);
  ~HttpApiSource() override;

  const std::string& Name() const override { return opt_.settings.name; }
  void Restore(const std::map<std::string, std::string>& committed) override;
  runtime::PollStatus Poll(runtime::SourceBatch& batch, std::size_t max) override;
  void Committed() override;
  core::Duration PollInterval() const override;

  struct Counters {
    std::uint64_t requests = 0, failures = 0, pages = 0, dead_pages = 0;
  };
  Counters counters() const { return counters_; }

 private:
  using Clock = std::chrono::steady_clock;

  struct Request {
    std::string url;   // with the query
    std::string body;  // POST
    http::Client::Headers headers;
  };
  Request BuildRequest() const;
  // Schedules the next attempt after a failed request; throws core::InfraError(kNo) when the
  // retry budget is spent.
  void Failed(const std::string& what, std::optional<core::Duration> retry_after);
  bool TakeToken();
  void TakeRecords(runtime::SourceBatch& batch, std::size_t max);
  void DeadLetterPage(runtime::SourceBatch& batch, const std::string& url, const std::string& body,
                      const std::string& problem);
  runtime::SourceItem Provenance(const std::string& url, std::int64_t index) const;
  void PutPosition(runtime::SourceBatch& batch) const;
  std::string PageLabel() const;

  HttpApiSourceOptions opt_;
  obs::Logger log_;
  stages::HttpPageReader reader_;
  http::Client client_;
  stages::HttpPosition pos_;        // after what was handed to the loop
  stages::HttpPosition committed_;  // after the last commit
  // The page being taken: its records, its URL and the page after it.
  std::vector<stages::HttpRecord> page_;
  std::string page_url_;
  std::optional<std::string> page_next_;
  bool page_loaded_ = false;
  // Retries.
  std::uint32_t failures_ = 0;
  Clock::time_point failing_since_{};
  Clock::time_point next_attempt_{};
  std::string last_error_;
  // Sweeps.
  bool swept_ = false;   // a sweep ended (committed) in this process
  bool ending_ = false;  // the batch being written ends a sweep
  Clock::time_point next_sweep_{};
  // Rate limit: a token bucket.
  double tokens_ = 1;
  Clock::time_point refilled_{};
  std::mt19937_64 jitter_;
  Counters counters_;
};

}  // namespace sluice::producer
