#include "faas/table.hpp"

#include <algorithm>
#include <cctype>

namespace faas {

std::string Table::render() const {
  std::vector<std::size_t> width(headers_.size(), 0);
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_)
    for (std::size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  std::string out;
  auto emit = [&](const std::vector<std::string>& row, bool upper) {
    std::string line;
    for (std::size_t i = 0; i < width.size(); ++i) {
      std::string cell = i < row.size() ? row[i] : "";
      if (upper)
        std::transform(cell.begin(), cell.end(), cell.begin(),
                       [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
      line += cell;
      if (i + 1 < width.size()) line += std::string(width[i] - cell.size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line;
    out += '\n';
  };
  emit(headers_, true);
  for (const auto& row : rows_) emit(row, false);
  return out;
}

}  // namespace faas
