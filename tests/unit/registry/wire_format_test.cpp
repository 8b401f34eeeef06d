// Confluent wire format and TopicNameStrategy.
#include <catch2/catch.hpp>

#include "sluice/registry/client.hpp"
#include "sluice/registry/subject.hpp"
#include "sluice/registry/wire_format.hpp"

using namespace sluice::registry;

TEST_CASE("frames carry magic 0 and a big-endian id") {
  std::string frame = EncodeFrame(SchemaId{0x01020304}, "avro");
  REQUIRE(frame.size() == 9);
  CHECK(frame[0] == '\0');
  CHECK(frame[1] == '\x01');
  CHECK(frame[2] == '\x02');
  CHECK(frame[3] == '\x03');
  CHECK(frame[4] == '\x04');
  CHECK(frame.substr(5) == "avro");

  auto parsed = ParseFrame(frame);
  REQUIRE(parsed);
  CHECK(parsed->id == SchemaId{0x01020304});
  CHECK(parsed->payload == "avro");

  // High bytes above 0x7f are not sign-extended per byte.
  std::string big = EncodeFrame(SchemaId{0x00ff80aa}, "");
  CHECK(ParseFrame(big)->id.value == 0x00ff80aa);
  CHECK(ParseFrame(big)->payload.empty());
}

TEST_CASE("bad frames are values with a reason, or a WireFormatError") {
  WireProblem problem;
  CHECK_FALSE(ParseFrame(std::string_view("\0\0\0", 3), &problem));
  CHECK(problem.error == WireError::kTooShort);
  CHECK(problem.message.find("3 bytes") != std::string::npos);
  CHECK_FALSE(ParseFrame("", &problem));
  CHECK(problem.error == WireError::kTooShort);

  std::string bad = EncodeFrame(SchemaId{7}, "x");
  bad[0] = 1;
  CHECK_FALSE(ParseFrame(bad, &problem));
  CHECK(problem.error == WireError::kBadMagic);
  CHECK(problem.message.find("magic byte 1") != std::string::npos);
  CHECK_THROWS_AS(ParseFrameOrThrow(bad), WireFormatError);
  try {
    ParseFrameOrThrow("ab");
    FAIL("expected a throw");
  } catch (const WireFormatError& e) {
    CHECK(e.Error() == WireError::kTooShort);
  }
}

TEST_CASE("TopicNameStrategy") {
  CHECK(ValueSubject("loans.raw").str() == "loans.raw-value");
  CHECK(KeySubject("loans.raw").str() == "loans.raw-key");
  CHECK(TopicNameStrategy("t", SubjectKind::kValue) == SubjectName("t-value"));
}

TEST_CASE("incompatible answers are recognised as Confluent 7 (409) and later (40901)") {
  CHECK(RegistryError(409, 409, "x").IsIncompatible());
  CHECK(RegistryError(409, 40901, "x").IsIncompatible());
  CHECK_FALSE(RegistryError(422, 42201, "x").IsIncompatible());
  CHECK(RegistryError(404, 40401, "x").IsNotFound());
  CHECK_FALSE(RegistryError(404, 40401, "x").Retryable());
}
