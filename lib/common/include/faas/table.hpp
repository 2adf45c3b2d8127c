// Aligned tables for terminals (listing commands print JSON lines otherwise).
#pragma once

#include <string>
#include <vector>

namespace faas {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string render() const;  // columns separated by two spaces, headers upper-case
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace faas
