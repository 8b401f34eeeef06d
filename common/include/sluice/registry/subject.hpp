#pragma once
// Registry subjects as a strong type, and Confluent's TopicNameStrategy: the value schema of
// topic T is registered under "T-value", the key schema under "T-key". A SubjectName cannot be
// passed where a topic name is expected, nor the reverse. Value type, thread-safe.
#include <string>
#include <string_view>

namespace sluice::registry {

class SubjectName {
 public:
  explicit SubjectName(std::string name) : name_(std::move(name)) {}
  const std::string& str() const { return name_; }
  auto operator<=>(const SubjectName&) const = default;

 private:
  std::string name_;
};

enum class SubjectKind { kKey, kValue };

// TopicNameStrategy: "<topic>-key" or "<topic>-value".
SubjectName TopicNameStrategy(std::string_view topic, SubjectKind kind);
inline SubjectName ValueSubject(std::string_view topic) { return TopicNameStrategy(topic, SubjectKind::kValue); }
inline SubjectName KeySubject(std::string_view topic) { return TopicNameStrategy(topic, SubjectKind::kKey); }

}  // namespace sluice::registry
