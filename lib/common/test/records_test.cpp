#include "faas/records.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>

#include "faas/timing.hpp"
#include "test_util.hpp"

namespace faas {
namespace {

using test::make_pipe;
using test::read_all;
using test::write_all;

// A reader over a pipe holding `input`, whose write end is already closed.
struct Fed {
  test::Pipe pipe;
  RecordReader reader;
  Fed(const std::string& input, std::size_t max_line = kDefaultMaxLine)
      : pipe(make_pipe()), reader(pipe.rd.get(), "stdin", max_line) {
    write_all(pipe.wr.get(), input);
    pipe.wr.reset();
  }
};

Json next_ok(RecordReader& r) {
  auto rec = r.next();
  EXPECT_TRUE(rec.ok()) << (rec ? "" : rec.error().what());
  if (!rec || !rec->has_value()) {
    ADD_FAILURE() << "no record";
    return Json();
  }
  return **rec;
}

void expect_end(RecordReader& r) {
  auto rec = r.next();
  ASSERT_TRUE(rec.ok()) << rec.error().what();
  EXPECT_FALSE(rec->has_value());
}

Error next_error(RecordReader& r) {
  auto rec = r.next();
  if (rec.ok()) {
    ADD_FAILURE() << "expected an error, got " << (rec->has_value() ? (*rec)->dump() : "end");
    return Error(Exit::ok, "");
  }
  return rec.error();
}

TEST(RecordReader, ReadsValidRecords) {
  Fed f("{\"v\":1,\"sandbox\":{\"id\":\"a1\"}}\n{\"fork\":{\"id\":\"b2\"}}\n");
  Json a = next_ok(f.reader);
  EXPECT_EQ(a["sandbox"]["id"], "a1");
  EXPECT_EQ(f.reader.line(), 1u);
  Json b = next_ok(f.reader);
  EXPECT_EQ(b["fork"]["id"], "b2");
  EXPECT_EQ(f.reader.line(), 2u);
  expect_end(f.reader);
}

TEST(RecordReader, UnknownKeysPassThroughInOrder) {
  const std::string line = R"({"zeta":1,"alpha":{"y":2,"x":[1,2]},"v":1,"mid":"s"})";
  Fed f(line + "\n");
  Json rec = next_ok(f.reader);
  EXPECT_EQ(rec.dump(), line);  // key order and values untouched

  auto p = make_pipe();
  RecordWriter w(p.wr.get());
  ASSERT_TRUE(w.write(rec).ok());
  p.wr.reset();
  EXPECT_EQ(read_all(p.rd.get()), line + "\n");  // already has v: no reordering
}

TEST(RecordReader, SkipsBlankLinesButCountsThem) {
  Fed f("\n   \n\t\r\n{\"a\":1}\n\n");
  Json rec = next_ok(f.reader);
  EXPECT_EQ(rec["a"], 1);
  EXPECT_EQ(f.reader.line(), 4u);
  expect_end(f.reader);
}

TEST(RecordReader, LastLineWithoutNewline) {
  Fed f("{\"a\":1}\n{\"b\":2}");
  EXPECT_EQ(next_ok(f.reader)["a"], 1);
  EXPECT_EQ(next_ok(f.reader)["b"], 2);
  expect_end(f.reader);
}

TEST(RecordReader, InvalidJsonNamesTheLine) {
  Fed f("{\"a\":1}\n\n{\"b\": nope}\n{\"c\":3}\n");
  next_ok(f.reader);
  Error e = next_error(f.reader);
  EXPECT_EQ(e.status(), Exit::data);
  EXPECT_EQ(to_int(e.status()), 65);
  EXPECT_NE(e.what().find("stdin line 3"), std::string::npos) << e.what();
  EXPECT_NE(e.what().find("invalid JSON"), std::string::npos) << e.what();
  // The reader goes on (--keep-going).
  EXPECT_EQ(next_ok(f.reader)["c"], 3);
  EXPECT_EQ(f.reader.line(), 4u);
}

TEST(RecordReader, NonObjectLinesAreBadData) {
  for (const char* line : {"[1,2]", "42", "\"str\"", "null", "true"}) {
    Fed f(std::string(line) + "\n");
    Error e = next_error(f.reader);
    EXPECT_EQ(to_int(e.status()), 65) << line;
    EXPECT_NE(e.what().find("stdin line 1: not a JSON object"), std::string::npos)
        << line << ": " << e.what();
  }
}

TEST(RecordReader, OtherSchemaVersionsAreBadData) {
  for (const char* line : {R"({"v":2})", R"({"v":"1"})", R"({"v":0})", R"({"v":1.5})"}) {
    Fed f(std::string(line) + "\n");
    Error e = next_error(f.reader);
    EXPECT_EQ(to_int(e.status()), 65) << line;
    EXPECT_NE(e.what().find("stdin line 1"), std::string::npos) << e.what();
  }
  Fed ok("{\"v\":1}\n");
  EXPECT_EQ(next_ok(ok.reader)["v"], 1);
}

TEST(RecordReader, TooLongLineIsSkipped) {
  const std::size_t max = 32;
  std::string longline = "{\"pad\":\"" + std::string(100, 'x') + "\"}";
  Fed f("{\"a\":1}\n" + longline + "\n{\"b\":2}\n", max);
  EXPECT_EQ(next_ok(f.reader)["a"], 1);
  Error e = next_error(f.reader);
  EXPECT_EQ(to_int(e.status()), 65);
  EXPECT_NE(e.what().find("stdin line 2"), std::string::npos) << e.what();
  EXPECT_NE(e.what().find("longer than 32"), std::string::npos) << e.what();
  EXPECT_EQ(next_ok(f.reader)["b"], 2);
  EXPECT_EQ(f.reader.line(), 3u);
  expect_end(f.reader);
}

TEST(RecordReader, LineOfExactlyMaxIsAccepted) {
  const std::string line = R"({"k":"0123456789"})";  // 18 bytes
  Fed f(line + "\n" + line, line.size());
  EXPECT_EQ(next_ok(f.reader)["k"], "0123456789");
  EXPECT_EQ(next_ok(f.reader)["k"], "0123456789");
  expect_end(f.reader);
}

TEST(RecordReader, TooLongLastLineWithoutNewline) {
  Fed f("{\"a\":1}\n" + std::string(200, 'y'), 16);
  next_ok(f.reader);
  Error e = next_error(f.reader);
  EXPECT_EQ(to_int(e.status()), 65);
  EXPECT_NE(e.what().find("line 2"), std::string::npos) << e.what();
  expect_end(f.reader);
}

TEST(RecordReader, RecordsSplitAcrossWrites) {
  // A slow producer: the reader must join partial reads into lines.
  auto p = make_pipe();
  std::thread producer([fd = p.wr.get()] {
    for (const char* part : {"{\"a\"", ":1}\n{", "\"b\":2", "}\n"}) {
      write_all(fd, part);
      ::usleep(1000);
    }
  });
  RecordReader r(p.rd.get(), "pipe");
  EXPECT_EQ(next_ok(r)["a"], 1);
  EXPECT_EQ(next_ok(r)["b"], 2);
  producer.join();
  p.wr.reset();
  expect_end(r);
}

TEST(RecordReader, ErrorsNameTheSource) {
  auto p = make_pipe();
  write_all(p.wr.get(), "oops\n");
  p.wr.reset();
  RecordReader r(p.rd.get(), "records.jsonl");
  Error e = next_error(r);
  EXPECT_EQ(e.what().rfind("records.jsonl line 1: ", 0), 0u) << e.what();
}

TEST(ParseRecord, ChecksObjectAndVersion) {
  EXPECT_TRUE(parse_record(R"({"v":1,"x":{}})").ok());
  EXPECT_EQ(parse_record("{").error().status(), Exit::data);
  EXPECT_EQ(parse_record("[]").error().status(), Exit::data);
  EXPECT_EQ(parse_record(R"({"v":2})").error().status(), Exit::data);
}

TEST(RecordWriter, OneLineWithVersionFirst) {
  auto p = make_pipe();
  RecordWriter w(p.wr.get());
  Json rec = Json::object();
  rec["sandbox"] = {{"id", "s1"}, {"note", "two\nlines"}};
  rec["b"] = 2;
  ASSERT_TRUE(w.write(rec).ok());
  ASSERT_TRUE(w.write(Json{{"c", 3}}).ok());
  p.wr.reset();
  std::string out = read_all(p.rd.get());
  EXPECT_EQ(out,
            "{\"v\":1,\"sandbox\":{\"id\":\"s1\",\"note\":\"two\\nlines\"},\"b\":2}\n"
            "{\"v\":1,\"c\":3}\n");
}

TEST(RecordWriter, WriteToClosedPipeIsIoError) {
  auto p = make_pipe();
  p.rd.reset();
  // SIGPIPE would kill the test binary: ignore it for this write.
  struct sigaction ign {}, old {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  RecordWriter w(p.wr.get());
  auto r = w.write(Json{{"a", 1}});
  ::sigaction(SIGPIPE, &old, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().status(), Exit::io);
  EXPECT_EQ(r.error().err(), EPIPE);
}

TEST(Timing, AccumulatesAndStripsToolPrefix) {
  Json rec = Json::object();
  add_timing(rec, "faas-fork", "mount", 120);
  add_timing(rec, "faas-fork", "mount", 30);
  add_timing(rec, "pool", "acquire", 7);
  EXPECT_EQ(rec["timing"]["fork.mount"], 150u);
  EXPECT_EQ(rec["timing"]["pool.acquire"], 7u);
  EXPECT_FALSE(rec["timing"].contains("faas-fork.mount"));
  EXPECT_EQ(rec["timing"].size(), 2u);
}

TEST(Timing, AddsToTimingFromUpstream) {
  // A record from an earlier tool in the pipeline already carries timings.
  Json rec = Json::parse(R"({"timing":{"pool.acquire":40,"fork.mount":5}})");
  add_timing(rec, "faas-fork", "mount", 10);
  EXPECT_EQ(rec["timing"]["fork.mount"], 15u);
  EXPECT_EQ(rec["timing"]["pool.acquire"], 40u);
  // Keys keep their order: the pipeline's phases read first to last.
  EXPECT_EQ(rec["timing"].begin().key(), "pool.acquire");
}

TEST(Timing, AccumulatesOnValuesSetInCode) {
  Json rec = Json::object();
  rec["timing"]["fork.mount"] = 5;  // a signed integer
  add_timing(rec, "faas-fork", "mount", 10);
  EXPECT_EQ(rec["timing"]["fork.mount"], 15u);
}

TEST(Timing, ReplacesANonObjectTiming) {
  Json rec = Json::parse(R"({"timing":"bogus"})");
  add_timing(rec, "faas-invoke", "send", 3);
  EXPECT_EQ(rec["timing"], Json::parse(R"({"invoke.send":3})"));
}

TEST(AddError, AddsToolStatusAndMessage) {
  Json rec = Json::parse(R"({"v":1,"sandbox":{"id":"x"}})");
  add_error(rec, "faas-pool", Error(Exit::temp, "pool `hello` is empty"));
  EXPECT_EQ(rec["error"]["tool"], "faas-pool");
  EXPECT_EQ(rec["error"]["status"], 75);
  EXPECT_EQ(rec["error"]["message"], "pool `hello` is empty");
  EXPECT_EQ(rec["sandbox"]["id"], "x");

  add_error(rec, "faas-fork", Error(Exit::os, "mount overlay", EINVAL));
  EXPECT_EQ(rec["error"]["tool"], "faas-fork");
  EXPECT_EQ(rec["error"]["message"], "mount overlay: Invalid argument");
}

}  // namespace
}  // namespace faas
