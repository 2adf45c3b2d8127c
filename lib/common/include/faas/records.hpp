// The record protocol: one JSON object per line on stdin/stdout.
//
// Each output line is the input record enriched; unknown keys pass through
// untouched (ordered_json keeps their order). `"v": 1` is the schema version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "faas/fd.hpp"
#include "faas/result.hpp"

namespace faas {

using Json = nlohmann::ordered_json;

inline constexpr int kRecordVersion = 1;
inline constexpr std::size_t kDefaultMaxLine = 1 << 20;  // 1 MiB

// Reads records from a file descriptor. Blank lines are skipped. Errors are
// Exit::data and name the source and line: "stdin line 3: not a JSON object".
class RecordReader {
 public:
  explicit RecordReader(int fd, std::string source = "stdin",
                        std::size_t max_line = kDefaultMaxLine);

  // The next record, std::nullopt at end of input.
  Result<std::optional<Json>> next();
  // Line number of the record last returned (1-based).
  std::size_t line() const { return line_; }
  const std::string& source() const { return source_; }

 private:
  Result<std::optional<std::string>> read_line();

  int fd_;
  std::string source_;
  std::size_t max_line_;
  std::size_t line_ = 0;
  std::string buf_;
  std::size_t pos_ = 0;
  bool eof_ = false;
};

// Validates one parsed line: an object whose `v`, if present, is 1.
Result<void> check_record(const Json& rec);
// Parses one line into a record (for tests and single-line inputs).
Result<Json> parse_record(std::string_view line);

// Writes one record per line with a single write(2) (atomic on a pipe for
// lines up to PIPE_BUF, and never interleaved with a partial line).
class RecordWriter {
 public:
  explicit RecordWriter(int fd = 1) : fd_(fd) {}
  Result<void> write(Json rec);

 private:
  int fd_;
};

// true when stdin is not a terminal (a tool then reads records from it).
bool stdin_has_records();

// Adds an error object to a record: {"error": {"tool", "status", "message"}}.
void add_error(Json& rec, std::string_view tool, const Error& e);

}  // namespace faas
