#pragma once
// The producer's source positions: what is known about one source file, and its encoding as a
// record of the compacted positions topic. Pure value code (no I/O except ComputeFileIdentity).
//
// File identity (see README.md): "<size>-<16 hex>" = the file's byte size and a 64-bit hash of
// its whole content (stages::StableHash64 chained over 64 KiB chunks). It depends only on the
// bytes, so the same file copied under another name, into another directory or onto another
// disk is the same file (re-feeding it produces nothing), while any change to the content is
// a new file. Files are only read once complete (see DirWatcher), so the identity of a file
// never changes while it is being ingested.
#include <cstdint>
#include <optional>
#include <string>

namespace sluice::producer {

// Throws core::InfraError(kNo) when the file cannot be read.
std::string ComputeFileIdentity(const std::string& path);

// The committed position of one file of one source: where the next unread item starts.
struct SourcePosition {
  std::string source;    // the source's name in the pipeline file
  std::string file;      // the path the file was read from (informational)
  std::string identity;  // ComputeFileIdentity
  std::uint64_t byte_offset = 0;
  std::uint64_t line = 1;
  bool done = false;     // the whole file has been read and committed
  std::uint64_t records = 0;   // rows sent to the raw topic so far (informational)
  std::uint64_t rejected = 0;  // items sent to the DLQ so far (informational)
  bool operator==(const SourcePosition&) const = default;
};

// Key of a position record: "<source>/<identity>" (one record per file and source, compacted).
std::string PositionKey(const std::string& source, const std::string& identity);
// JSON value of a position record.
std::string EncodePosition(const SourcePosition& position);
// Parses a position record's value; nullopt (with *why) when it is not one.
std::optional<SourcePosition> DecodePosition(const std::string& json, std::string* why = nullptr);

}  // namespace sluice::producer
