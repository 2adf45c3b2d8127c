#include "faas/records.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

namespace faas {

RecordReader::RecordReader(int fd, std::string source, std::size_t max_line)
    : fd_(fd), source_(std::move(source)), max_line_(max_line) {}

Result<std::optional<std::string>> RecordReader::read_line() {
  std::size_t scanned = pos_;
  for (;;) {
    std::size_t nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      if (nl - pos_ > max_line_) break;
      std::string line = buf_.substr(pos_, nl - pos_);
      pos_ = nl + 1;
      if (pos_ > 65536) {
        buf_.erase(0, pos_);
        pos_ = 0;
      }
      return std::optional<std::string>(std::move(line));
    }
    scanned = buf_.size();
    if (buf_.size() - pos_ > max_line_) break;
    if (eof_) {
      if (pos_ == buf_.size()) return std::optional<std::string>();
      std::string line = buf_.substr(pos_);  // last line without newline
      pos_ = buf_.size();
      return std::optional<std::string>(std::move(line));
    }
    char chunk[65536];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("read " + source_, Exit::io);
    }
    if (n == 0) {
      eof_ = true;
      continue;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
  // Too long: report it and skip to the next newline so --keep-going callers
  // can go on with the following record.
  std::size_t bad_line = line_ + 1;
  for (;;) {
    std::size_t nl = buf_.find('\n', pos_);
    if (nl != std::string::npos) {
      pos_ = nl + 1;
      break;
    }
    buf_.clear();
    pos_ = 0;
    if (eof_) break;
    char chunk[65536];
    ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      eof_ = true;
      break;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
  line_ = bad_line;
  return Error(Exit::data, source_ + " line " + std::to_string(bad_line) +
                               ": record longer than " + std::to_string(max_line_) +
                               " bytes");
}

Result<void> check_record(const Json& rec) {
  if (!rec.is_object()) return Error(Exit::data, "not a JSON object");
  auto v = rec.find("v");
  if (v != rec.end()) {
    if (!v->is_number_integer())
      return Error(Exit::data, "`v` is not an integer");
    if (v->get<long long>() != kRecordVersion)
      return Error(Exit::data, "record version " + v->dump() + " is not supported (this faaskit speaks " +
                                   std::to_string(kRecordVersion) + ")");
  }
  return {};
}

Result<Json> parse_record(std::string_view line) {
  Json rec = Json::parse(line.begin(), line.end(), nullptr, false);
  if (rec.is_discarded()) return Error(Exit::data, "invalid JSON");
  FAAS_TRY(check_record(rec));
  return rec;
}

Result<std::optional<Json>> RecordReader::next() {
  for (;;) {
    auto line = read_line();
    if (!line) return std::move(line).error();
    if (!line->has_value()) return std::optional<Json>();
    ++line_;
    const std::string& s = **line;
    if (s.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank
    auto rec = parse_record(s);
    if (!rec)
      return std::move(rec).error().wrap(source_ + " line " + std::to_string(line_));
    return std::optional<Json>(std::move(rec).value());
  }
}

Result<void> RecordWriter::write(Json rec) {
  if (rec.find("v") == rec.end()) {
    // `v` leads a new record; an input record keeps its own key order.
    Json out = Json::object();
    out["v"] = kRecordVersion;
    for (auto& [k, val] : rec.items()) out[k] = std::move(val);
    rec = std::move(out);
  }
  std::string line = rec.dump(-1, ' ', false, Json::error_handler_t::replace);
  line += '\n';
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error("write record", Exit::io);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return {};
}

bool stdin_has_records() { return ::isatty(0) == 0; }

void add_error(Json& rec, std::string_view tool, const Error& e) {
  rec["error"] = Json{{"tool", tool},
                      {"status", to_int(e.status())},
                      {"message", e.what()}};
}

}  // namespace faas
