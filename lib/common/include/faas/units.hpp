// Byte sizes and durations as operators type them: "512M", "1.5G", "max";
// "500ms", "2s", "1m".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "faas/result.hpp"

namespace faas {

// Bytes with an optional binary suffix (K, M, G, T; KiB, MiB... and a
// trailing B accepted). Exit::usage on anything else or on overflow.
Result<std::uint64_t> parse_bytes(std::string_view s);

// A duration: a number with ms, s, m or h (a bare number is seconds).
Result<std::chrono::milliseconds> parse_duration(std::string_view s);

// 1536 -> "1.5K", 0 -> "0", for tables.
std::string format_bytes(std::uint64_t bytes);

}  // namespace faas
