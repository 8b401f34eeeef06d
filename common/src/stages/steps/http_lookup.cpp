// http_lookup: a value from a JSON HTTP API, cached, with a fallback when the API fails.
#include <cstdlib>

#include "sluice/stages/yaml_util.hpp"
#include "step.hpp"

namespace sluice::stages::steps {
namespace {

class HttpLookupFill final : public Step {
 public:
  HttpLookupFill(const ComponentInput& in, const EnricherDeps& deps)
      : Step(in), field_(in.options.String("field")), lookup_(SettingsOf(in), FetchOf(in, deps)) {
    // The {field} placeholders; SettingsOf checked that the braces balance and filled in {env:NAME}.
    const std::string& url = lookup_.UrlTemplate();
    for (std::size_t open = url.find('{'); open != std::string::npos; open = url.find('{', open + 1)) {
      url_fields_.push_back(url.substr(open + 1, url.find('}', open) - open - 1));
    }
  }

  bool Apply(Row& row, SteadyTime now, EnrichResult& result, std::string*) override {
    HttpLookup::Result r = lookup_.Lookup(row, now);
    if (r.fallback) result.fallbacks.push_back(name_);
    row.Set(field_, std::move(r.value));
    return true;
  }
  std::vector<FieldUse> Fields() const override {
    std::vector<FieldUse> uses;
    for (const auto& f : url_fields_) uses.push_back({f, "url", FieldAccess::kRead});
    uses.push_back({field_, "field", FieldAccess::kWrite});
    return uses;
  }

 private:
  static HttpLookup::Settings SettingsOf(const ComponentInput& in) {
    const config::View& o = in.options;
    HttpLookup::Settings s;
    s.url = o.String("url");
    int depth = 0;
    for (char c : s.url) {
      depth += c == '{' ? 1 : c == '}' ? -1 : 0;
      if (depth < 0 || depth > 1) in.Fail("url", "unbalanced { } in the URL template");
    }
    if (depth != 0) in.Fail("url", "unbalanced { } in the URL template");
    s.url = WithEnvironment(in, s.url);
    s.json_pointer = o.String("json_path");
    if (!s.json_pointer.empty() && s.json_pointer[0] != '/') in.Fail("json_path", "a JSON pointer starts with '/'");
    s.ttl = o.Duration("cache_ttl");
    s.cache_size = static_cast<std::size_t>(o.Int("cache_size"));
    s.timeout = o.Duration("timeout");
    // The fallback as written (a quoted '0' stays text; the enriched schema types it).
    if (o.Has("fallback")) s.fallback = ScalarValue(config::Lookup(in.raw, "fallback"));
    return s;
  }
  // {env:NAME} is replaced by the variable's value when the step is built (a base URL that
  // differs per deployment); an unset or empty variable is a configuration error.
  static std::string WithEnvironment(const ComponentInput& in, const std::string& url) {
    static constexpr std::string_view kEnv = "{env:";
    std::string out;
    std::size_t at = 0;
    for (std::size_t open = url.find(kEnv); open != std::string::npos; open = url.find(kEnv, at)) {
      const std::size_t close = url.find('}', open);
      const std::string var = url.substr(open + kEnv.size(), close - open - kEnv.size());
      const char* value = std::getenv(var.c_str());
      if (value == nullptr || *value == '\0') in.Fail("url", "environment variable " + var + " is not set");
      out.append(url, at, open - at).append(value);
      at = close + 1;
    }
    return out.append(url, at);
  }
  static HttpFetch FetchOf(const ComponentInput& in, const EnricherDeps& deps) {
    if (!deps.http_fetch) in.Fail("", "no HTTP client available for http_lookup");
    return deps.http_fetch;
  }

  std::string field_;
  std::vector<std::string> url_fields_;
  HttpLookup lookup_;
};

void Declare(config::Section& s) {
  using T = config::OptionType;
  DeclareStepName(s, "weather");
  s.Add("url", T::kString).Required().Describe("URL template; {field} is replaced by the URL-encoded field value, {env:NAME} by an environment variable when the step starts").Example("http://127.0.0.1:8089/weather/{city}/{date}");
  s.Add("field", T::kString).Required().Describe("Output field").Example("temp_max");
  s.Add("json_path", T::kString).Default("''").Describe("JSON pointer to the value in the response").Example("/daily/temp_max");
  s.Add("cache_ttl", T::kDuration).Default("10m").Describe("How long an answer is reused").Example("1h");
  s.Add("cache_size", T::kInt).Default("10000").Min(1).Describe("Most answers cached").Example("50000");
  s.Add("timeout", T::kDuration).Default("2s").Describe("Request timeout").Example("500ms");
  s.Add("fallback", T::kString).DefaultDoc("null").Describe("Value used when the API fails or times out").Example("'unknown'");
}

}  // namespace

StepType HttpLookupStep() {
  return {"http_lookup", "Look a value up in a JSON HTTP API, cached, with a fallback", Declare,
          {"{name: weather, url: 'http://127.0.0.1:1/w/{city}', field: temp, json_path: /t, cache_ttl: 1h, cache_size: 10, timeout: 1s, fallback: 'unknown'}"},
          [](const ComponentInput& in, const EnricherDeps& deps) { return std::make_shared<HttpLookupFill>(in, deps); }};
}

}  // namespace sluice::stages::steps
