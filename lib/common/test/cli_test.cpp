#include "faas/cli.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "faas/records.hpp"
#include "test_util.hpp"

namespace faas {
namespace {

// Redirects fd 1 or 2 into a pipe until take() (output stays small: the
// pipe buffer holds it without a reader).
class Capture {
 public:
  explicit Capture(int target) : target_(target), saved_(::dup(target)) {
    pipe_ = test::make_pipe();
    ::fflush(nullptr);
    ::dup2(pipe_.wr.get(), target_);
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  ~Capture() { restore(); }
  std::string take() {
    restore();
    pipe_.wr.reset();
    return test::read_all(pipe_.rd.get());
  }

 private:
  void restore() {
    if (!saved_) return;
    std::cout.flush();
    ::fflush(nullptr);
    ::dup2(saved_.get(), target_);
    saved_.reset();
  }
  int target_;
  Fd saved_;
  test::Pipe pipe_;
};

struct RunOutput {
  int status = -1;
  std::string out;
  std::string err;
  bool body_ran = false;
};

// Builds a tool the way a main.cpp does and runs it with args.
RunOutput run_tool(std::vector<std::string> args, const std::function<Result<Exit>()>& body,
                   bool with_required = false) {
  CLI::App app{"a test tool", "faas-x"};
  CommonOptions common;
  add_common_options(app, common);
  std::string name;
  if (with_required) app.add_option("--name", name, "A name")->required();
  args.insert(args.begin(), "faas-x");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  RunOutput r;
  Capture out(1);
  Capture err(2);
  r.status = run_main(app, static_cast<int>(args.size()), argv.data(), common, [&] {
    r.body_ran = true;
    return body();
  });
  r.err = err.take();
  r.out = out.take();
  return r;
}

Result<Exit> ok_body() { return Exit::ok; }

class RunMain : public ::testing::Test {
 protected:
  void TearDown() override {
    log_config().format = LogFormat::text;
    log_config().tool = "faas";
  }
};

TEST_F(RunMain, BadFlagIsUsage) {
  RunOutput r = run_tool({"--bogus"}, ok_body);
  EXPECT_EQ(r.status, 64);
  EXPECT_FALSE(r.body_ran);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.rfind("faas-x: ", 0), 0u) << r.err;
  EXPECT_EQ(r.out, "");  // diagnostics never go to stdout
}

TEST_F(RunMain, MissingRequiredOptionIsUsage) {
  RunOutput r = run_tool({}, ok_body, true);
  EXPECT_EQ(r.status, 64);
  EXPECT_FALSE(r.body_ran);
  EXPECT_NE(r.err.find("--name"), std::string::npos) << r.err;

  RunOutput given = run_tool({"--name", "x"}, ok_body, true);
  EXPECT_EQ(given.status, 0);
  EXPECT_TRUE(given.body_ran);
}

TEST_F(RunMain, BadOptionValueIsUsage) {
  RunOutput r = run_tool({"--log-format", "xml"}, ok_body);
  EXPECT_EQ(r.status, 64);
  EXPECT_FALSE(r.body_ran);
}

TEST_F(RunMain, VersionAndHelpExitZero) {
  RunOutput v = run_tool({"--version"}, ok_body);
  EXPECT_EQ(v.status, 0);
  EXPECT_FALSE(v.body_ran);
  EXPECT_NE(v.out.find("faas-x " FAAS_VERSION), std::string::npos) << v.out;

  RunOutput h = run_tool({"--help"}, ok_body);
  EXPECT_EQ(h.status, 0);
  EXPECT_FALSE(h.body_ran);
  EXPECT_NE(h.out.find("--state-dir"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("--log-format"), std::string::npos) << h.out;
}

TEST_F(RunMain, BodyErrorStatusAndMessage) {
  RunOutput r = run_tool({}, []() -> Result<Exit> {
    return Error(Exit::temp, "pool `hello` is empty");
  });
  EXPECT_TRUE(r.body_ran);
  EXPECT_EQ(r.status, 75);
  EXPECT_EQ(r.err, "faas-x: pool `hello` is empty\n");

  RunOutput os = run_tool({}, []() -> Result<Exit> {
    return Error(Exit::os, "mount overlay at `/x`", EINVAL);
  });
  EXPECT_EQ(os.status, 71);
  EXPECT_EQ(os.err, "faas-x: mount overlay at `/x`: Invalid argument\n");
}

TEST_F(RunMain, BodyValueIsTheStatus) {
  EXPECT_EQ(run_tool({}, ok_body).status, 0);
  RunOutput r = run_tool({}, []() -> Result<Exit> { return Exit::no_input; });
  EXPECT_EQ(r.status, 66);
  EXPECT_EQ(r.err, "");
}

TEST_F(RunMain, ExceptionIsInternalError) {
  RunOutput r = run_tool({}, []() -> Result<Exit> { throw std::runtime_error("boom"); });
  EXPECT_EQ(r.status, 70);
  EXPECT_NE(r.err.find("internal error: boom"), std::string::npos) << r.err;
  RunOutput odd = run_tool({}, []() -> Result<Exit> { throw 42; });
  EXPECT_EQ(odd.status, 70);
}

TEST_F(RunMain, JsonAndTableConflict) {
  RunOutput r = run_tool({"--json", "--table"}, ok_body);
  EXPECT_EQ(r.status, 64);
  EXPECT_FALSE(r.body_ran);
  EXPECT_NE(r.err.find("--table"), std::string::npos) << r.err;
  EXPECT_EQ(run_tool({"--json"}, ok_body).status, 0);
}

TEST_F(RunMain, LogFormatJson) {
  RunOutput r = run_tool({"--log-format", "json"}, []() -> Result<Exit> {
    return Error(Exit::no_input, "no sandbox `ab12`");
  });
  EXPECT_EQ(r.status, 66);
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.back(), '\n');
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line: " << r.err;
  Json j = Json::parse(r.err, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.err;
  EXPECT_EQ(j["level"], "error");
  EXPECT_EQ(j["tool"], "faas-x");
  EXPECT_EQ(j["msg"], "no sandbox `ab12`");
}

TEST_F(RunMain, LogFormatJsonForParseErrors) {
  RunOutput r = run_tool({"--log-format=json", "--bogus"}, ok_body);
  EXPECT_EQ(r.status, 64);
  Json j = Json::parse(r.err, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.err;
  EXPECT_NE(j["msg"].get<std::string>().find("--bogus"), std::string::npos);
}

TEST(CommonOptions, OutputMode) {
  CommonOptions o;
  o.json = true;
  EXPECT_EQ(o.output(), OutputMode::json);
  o.json = false;
  o.table = true;
  EXPECT_EQ(o.output(), OutputMode::table);
}

TEST(CommonOptions, DirsFromEnvironmentThenFlags) {
  ::setenv("FAAS_STATE_DIR", "/srv/state", 1);
  ::setenv("FAAS_RUN_DIR", "", 1);  // empty counts as unset
  CLI::App app{"t", "faas-y"};
  CommonOptions o;
  add_common_options(app, o);
  ::unsetenv("FAAS_STATE_DIR");
  ::unsetenv("FAAS_RUN_DIR");
  EXPECT_EQ(o.state_dir, "/srv/state");
  EXPECT_EQ(o.run_dir, "/run/faas");
  EXPECT_EQ(o.tool, "faas-y");
  std::vector<std::string> args{"faas-y", "--state-dir", "/x", "--keep-going"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  EXPECT_EQ(o.state_dir, "/x");
  EXPECT_TRUE(o.keep_going);
  log_config().tool = "faas";
}

// A quick parse fills what CLI11 fills for the same line, and says no to
// whatever needs CLI11 (help, errors, forms it does not know).
TEST(QuickParse, SameAsCli11OrFalse) {
  struct Parsed {
    CommonOptions c;
    bool a = false, b = false;
    std::string base;
    std::vector<std::string> words;
  };
  auto quick = [](std::vector<std::string> args, Parsed& p) {
    static constexpr std::string_view kReserved[] = {"rm"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    QuickCommon qc(p.c, "faas-y");
    return parse_quick(static_cast<int>(argv.size()), argv.data(), 1,
                       {{"--a", &p.a}, {"--b", &p.b}, {"--base", nullptr, &p.base}, qc.state_dir(),
                        qc.run_dir(), qc.json(), qc.table(), qc.keep_going(), qc.log_format()},
                       &p.words, kReserved) &&
           qc.finish();
  };
  auto cli = [](std::vector<std::string> args, Parsed& p) {
    CLI::App app{"t", "faas-y"};
    add_common_options(app, p.c);
    app.add_flag("--a", p.a);
    app.add_flag("--b", p.b);
    app.add_option("--base", p.base);
    app.add_option("WORD", p.words);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    app.parse(static_cast<int>(argv.size()), argv.data());
  };
  const std::vector<std::vector<std::string>> same{
      {"faas-y"},
      {"faas-y", "--a", "--base", "/b"},
      {"faas-y", "--base", "/b", "--b", "--state-dir", "/s", "--run-dir", "/r", "--json"},
      {"faas-y", "--keep-going", "--table", "--log-format", "json", "w1", "w2"},
  };
  for (const auto& args : same) {
    Parsed q, c;
    ASSERT_TRUE(quick(args, q)) << args.size();
    cli(args, c);
    EXPECT_EQ(q.a, c.a);
    EXPECT_EQ(q.b, c.b);
    EXPECT_EQ(q.base, c.base);
    EXPECT_EQ(q.words, c.words);
    EXPECT_EQ(q.c.state_dir, c.c.state_dir);
    EXPECT_EQ(q.c.run_dir, c.c.run_dir);
    EXPECT_EQ(q.c.json, c.c.json);
    EXPECT_EQ(q.c.table, c.c.table);
    EXPECT_EQ(q.c.keep_going, c.c.keep_going);
    EXPECT_EQ(q.c.log_format, c.c.log_format);
    EXPECT_EQ(q.c.tool, "faas-y");
  }
  const std::vector<std::vector<std::string>> refused{
      {"faas-y", "--help"},         {"faas-y", "-h"},
      {"faas-y", "--base=/b"},      {"faas-y", "--base"},
      {"faas-y", "--base", "-x"},   {"faas-y", "--base", ""},
      {"faas-y", "--a", "--a"},     {"faas-y", "--base", "/b", "--base", "/c"},
      {"faas-y", "--json", "--table"}, {"faas-y", "--log-format", "JSON"},
      {"faas-y", "--", "w"},        {"faas-y", "rm"},
      {"faas-y", "--c"},            {"faas-y", ""},
  };
  for (const auto& args : refused) {
    Parsed q;
    EXPECT_FALSE(quick(args, q)) << args.back();
    // Nothing written but the common defaults.
    EXPECT_FALSE(q.a);
    EXPECT_TRUE(q.base.empty());
    EXPECT_TRUE(q.words.empty());
  }
  log_config().tool = "faas";
}

TEST(QuickParse, PidTakesOnlyPlainPositiveNumbers) {
  pid_t p = 0;
  EXPECT_TRUE(quick_pid("1", p));
  EXPECT_EQ(p, 1);
  EXPECT_TRUE(quick_pid("2147483647", p));
  EXPECT_EQ(p, 2147483647);
  for (const char* bad : {"", "0", "-1", "+1", "1x", " 1", "2147483648", "99999999999999999999"})
    EXPECT_FALSE(quick_pid(bad, p)) << bad;
}

}  // namespace
}  // namespace faas
