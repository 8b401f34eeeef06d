#include "sluice/kafka/topic_reader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>

#include "sluice/kafka/consumer.hpp"
#include "sluice/kafka/detail/rdkafka_glue.hpp"

namespace sluice::kafka {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadToEndBatch = 1000;
constexpr std::chrono::milliseconds kReadToEndPoll{200};
constexpr std::chrono::milliseconds kWatermarkBackoff{100};

std::string Label(const TopicPartition& p) {
  return p.topic + "[" + std::to_string(p.partition) + "]";
}

std::string OffsetText(std::int64_t offset) {
  return offset == kOffsetInvalid ? std::string("?") : std::to_string(offset);
}

// The consumer config: the caller's, plus what the reader relies on. Partition EOF is how a
// transactional partition's end is seen; it never commits; the group id only satisfies
// librdkafka (assign never joins the group).
Config ReaderConfig(const Config& config) {
  Config c = config;
  if (!c.Has("group.id")) {
    std::random_device rd;
    c.Set("group.id", "sluice-topic-reader-" + std::to_string(rd()) + std::to_string(rd()));
  }
  if (!c.Has("isolation.level")) c.Set("isolation.level", "read_committed");
  c.Set("enable.partition.eof", "true");
  c.Set("enable.auto.commit", "false");
  c.Set("enable.auto.offset.store", "false");
  return c;
}

int PartitionCountOf(rd_kafka_t* rk, const std::string& topic, std::chrono::milliseconds timeout) {
  // All topics, as Admin does: a metadata request naming one topic may auto-create it.
  const rd_kafka_metadata_t* md = nullptr;
  if (const rd_kafka_resp_err_t err =
          rd_kafka_metadata(rk, 1, nullptr, &md, detail::TimeoutMs(timeout))) {
    throw KafkaError::FromCode("metadata for reading '" + topic + "'", err, rk);
  }
  std::unique_ptr<const rd_kafka_metadata_t, void (*)(const rd_kafka_metadata_t*)> guard(
      md, rd_kafka_metadata_destroy);
  for (int i = 0; i < md->topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md->topics[i];
    if (topic != t.topic) continue;
    if (t.err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      throw KafkaError::FromCode("describe topic '" + topic + "'", t.err);
    }
    return t.partition_cnt;
  }
  throw KafkaError::FromCode("describe topic '" + topic + "'",
                             RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);
}

}  // namespace

struct TopicReader::Impl {
  struct Part {
    TopicPartition partition;
    std::int64_t start = kOffsetBeginning;  // an offset, or kOffsetBeginning / kOffsetEnd
    std::int64_t end = kOffsetEnd;          // resolved: an offset or kNoEnd
    std::int64_t position = kOffsetInvalid;
    bool done = false;
  };

  Consumer consumer;
  TopicReaderOptions options;
  std::vector<Part> parts;
  std::size_t open = 0;  // parts not done

  Impl(const Config& config, TopicReaderOptions o)
      : consumer(ReaderConfig(config)), options(std::move(o)) {}

  void Start(std::vector<PartitionRange> ranges) {
    for (std::size_t i = 0; i < ranges.size(); ++i) {
      const PartitionRange& r = ranges[i];
      for (std::size_t j = 0; j < i; ++j) {
        if (ranges[j].partition == r.partition) {
          throw std::invalid_argument("TopicReader: " + Label(r.partition) + " given twice");
        }
      }
      if (r.start < 0 && r.start != kOffsetBeginning && r.start != kOffsetEnd) {
        throw std::invalid_argument("TopicReader: " + Label(r.partition) +
                                    ": start must be an offset, kOffsetBeginning or kOffsetEnd");
      }
      if (r.end < 0 && r.end != kOffsetEnd) {
        throw std::invalid_argument("TopicReader: " + Label(r.partition) +
                                    ": end must be an offset, kOffsetEnd or kNoEnd");
      }
    }
    std::vector<TopicPartitionOffset> assign;
    for (const PartitionRange& r : ranges) {
      Part p{r.partition, r.start, r.end, r.start >= 0 ? r.start : kOffsetInvalid, false};
      if (r.end == kOffsetEnd || r.start == kOffsetEnd) {
        // The end when reading starts, at the consumer's isolation level (ListOffsets carries
        // it: the last stable offset under read_committed).
        const auto [low, high] = Watermarks(r.partition);
        if (p.end == kOffsetEnd) p.end = high;
        if (p.start == kOffsetBeginning) p.start = low;
        if (p.start == kOffsetEnd) p.start = high;
        p.position = p.start;
      }
      p.done = p.end != kNoEnd && p.start >= 0 && p.start >= p.end;
      if (!p.done) {
        ++open;
        assign.push_back({p.partition.topic, p.partition.partition, p.start});
      }
      parts.push_back(std::move(p));
    }
    if (!assign.empty()) consumer.Assign(assign);
  }

  // Retriable errors (a leader not elected yet right after the topic was created, a leader
  // moving) are retried until options.timeout has passed.
  std::pair<std::int64_t, std::int64_t> Watermarks(const TopicPartition& partition) {
    const auto deadline = Clock::now() + options.timeout;
    while (true) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      try {
        return consumer.Watermarks(partition, std::max(left, std::chrono::milliseconds(1)));
      } catch (const KafkaError& e) {
        if (!e.IsRetriable() || Clock::now() + kWatermarkBackoff >= deadline) throw;
        spdlog::debug("topic reader: {}; retrying", e.what());
      }
      std::this_thread::sleep_for(kWatermarkBackoff);
    }
  }

  Part* Find(const rd_kafka_message_t* m) {
    if (m->rkt == nullptr) return nullptr;
    const char* topic = rd_kafka_topic_name(m->rkt);
    for (Part& p : parts) {
      if (p.partition.partition == m->partition && p.partition.topic == topic) return &p;
    }
    return nullptr;
  }

  void MarkDone(Part& p) {
    if (p.done) return;
    p.done = true;
    --open;
    try {
      consumer.Pause({p.partition});  // stops fetching what would only be dropped
    } catch (const KafkaError& e) {
      spdlog::debug("topic reader: pausing {} failed: {}", Label(p.partition), e.what());
    }
  }

  void OnError(const rd_kafka_message_t* m) {
    rd_kafka_t* rk = consumer.Handle();
    if (m->err == RD_KAFKA_RESP_ERR__FATAL) throw KafkaError::FromCode("read", m->err, rk);
    std::string where = "read";
    if (m->rkt != nullptr) {
      where += " " + Label({rd_kafka_topic_name(m->rkt), m->partition});
    }
    where += ": ";
    where += rd_kafka_message_errstr(m);
    KafkaError error = KafkaError::FromCode(where, m->err, rk);
    if (!options.on_error) throw error;
    options.on_error(error);
  }

  std::size_t Read(const RecordCallback& on_record, std::size_t max,
                   std::chrono::milliseconds timeout) {
    std::size_t handed = 0;
    int wait_ms = detail::TimeoutMs(timeout);
    rd_kafka_t* rk = consumer.Handle();
    while (handed < max && !AtEnd()) {
      detail::MessagePtr m(rd_kafka_consumer_poll(rk, wait_ms));
      if (!m) break;
      wait_ms = 0;  // what has already arrived is taken without waiting
      Part* p = Find(m.get());
      if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        if (p == nullptr) continue;
        p->position = std::max(p->position, m->offset);
        if (p->end != kNoEnd && m->offset >= p->end) MarkDone(*p);
        continue;
      }
      if (m->err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        OnError(m.get());
        continue;
      }
      if (p == nullptr || p->done) continue;
      if (p->start >= 0 && m->offset < p->start) continue;  // reset below the range start
      if (m->offset >= p->end) {
        MarkDone(*p);  // the records up to end - 1 were markers or aborted
        continue;
      }
      p->position = m->offset + 1;
      if (p->end != kNoEnd && p->position >= p->end) MarkDone(*p);
      ++handed;
      on_record(detail::FromRdMessage(m.get()));
    }
    return handed;
  }

  // A kNoEnd partition is never done, so it keeps `open` above 0.
  bool AtEnd() const { return open == 0; }
};

TopicReader::TopicReader(const Config& config, const std::string& topic,
                         TopicReaderOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {
  const int count = PartitionCountOf(impl_->consumer.Handle(), topic, impl_->options.timeout);
  std::vector<PartitionRange> ranges;
  for (int p = 0; p < count; ++p) ranges.push_back({{topic, p}, kOffsetBeginning, kOffsetEnd});
  impl_->Start(std::move(ranges));
}

TopicReader::TopicReader(const Config& config, std::vector<PartitionRange> ranges,
                         TopicReaderOptions options)
    : impl_(std::make_unique<Impl>(config, std::move(options))) {
  impl_->Start(std::move(ranges));
}

TopicReader::~TopicReader() {
  if (!impl_) return;
  try {
    Close();
  } catch (const std::exception& e) {
    spdlog::warn("topic reader: close failed: {}", e.what());
  }
}

TopicReader::TopicReader(TopicReader&&) noexcept = default;
TopicReader& TopicReader::operator=(TopicReader&&) noexcept = default;

std::size_t TopicReader::Read(const RecordCallback& on_record, std::size_t max,
                              std::chrono::milliseconds timeout) {
  return impl_->Read(on_record, max, timeout);
}

bool TopicReader::ReadToEnd(const RecordCallback& on_record, Clock::time_point deadline,
                            const std::function<bool()>& stop) {
  while (!impl_->AtEnd()) {
    if (stop && stop()) return false;
    const auto now = Clock::now();
    if (now >= deadline) {
      std::string missing;
      for (const Impl::Part& p : impl_->parts) {
        if (p.done) continue;
        if (!missing.empty()) missing += ", ";
        missing += Label(p.partition) + " at " + OffsetText(p.position) + " of " +
                   (p.end == kNoEnd ? std::string("no end") : std::to_string(p.end));
      }
      throw ReadDeadlineError("kafka: reading to the end did not finish by the deadline: " +
                                  missing + " (_TIMED_OUT, retriable)",
                              RD_KAFKA_RESP_ERR__TIMED_OUT, ErrorKind::kRetriable);
    }
    // Rounded up: a wait cut to whole milliseconds must not end before the deadline.
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    impl_->Read(on_record, kReadToEndBatch, std::min(left, kReadToEndPoll));
  }
  return true;
}

bool TopicReader::AtEnd() const { return impl_->AtEnd(); }

std::vector<TopicPartitionOffset> TopicReader::Positions() const {
  std::vector<TopicPartitionOffset> out;
  for (const Impl::Part& p : impl_->parts) {
    out.push_back({p.partition.topic, p.partition.partition, p.position});
  }
  return out;
}

std::vector<TopicPartitionOffset> TopicReader::Ends() const {
  std::vector<TopicPartitionOffset> out;
  for (const Impl::Part& p : impl_->parts) {
    out.push_back({p.partition.topic, p.partition.partition, p.end});
  }
  return out;
}

std::int64_t TopicReader::QueryEnd(const TopicPartition& partition,
                                   std::chrono::milliseconds timeout) const {
  return impl_->consumer.Watermarks(partition, timeout).second;
}

void TopicReader::Close() { impl_->consumer.Close(); }

}  // namespace sluice::kafka
