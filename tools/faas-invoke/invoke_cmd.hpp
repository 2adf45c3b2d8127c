// faas-invoke: for each sandbox record on stdin, one HTTP request over a
// socket pair whose other end faas-init hands to the handler.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "faas/cli.hpp"
#include "faas/result.hpp"

namespace faas::invoke {

struct Options {
  std::vector<std::string> http;     // --http METHOD PATH
  std::vector<std::string> headers;  // -H K:V
  std::string data;                  // --data STRING | @FILE
  std::string deadline = "10s";      // --deadline DUR
  std::size_t max_response = 16 << 20;
  bool release = false;              // --release

  // serve --listen ADDR:PORT --pool NAME [--max-inflight N]
  CLI::App* serve = nullptr;
  std::string listen, pool;
  int max_inflight = 64;
};

void add_options(CLI::App& app, Options& o);
Result<Exit> run(const CommonOptions& common, const Options& o);

}  // namespace faas::invoke
