// A throwaway directory tree for tests that parse kernel files.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace faas::test {

class FakeTree {
 public:
  FakeTree() {
    const char* base = std::getenv("FAAS_TEST_TMPDIR");
    std::filesystem::path dir = base && *base ? base : std::filesystem::temp_directory_path().string();
    std::filesystem::create_directories(dir);
    std::string tmpl = (dir / "fake.XXXXXX").string();
    root_ = ::mkdtemp(tmpl.data());
  }
  ~FakeTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  FakeTree(const FakeTree&) = delete;
  FakeTree& operator=(const FakeTree&) = delete;

  const std::filesystem::path& root() const { return root_; }
  void put(std::string_view rel, std::string_view text) const {
    std::filesystem::path p = root_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  std::string get(std::string_view rel) const {
    std::ifstream in(root_ / rel);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

 private:
  std::filesystem::path root_;
};

}  // namespace faas::test
