#include "faas/affinity.hpp"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace faas {
namespace {

TEST(Affinity, CpuListIsTheSetLowestFirst) {
  cpu_set_t set;
  CPU_ZERO(&set);
  EXPECT_TRUE(cpu_list(set).empty());
  CPU_SET(5, &set);
  CPU_SET(0, &set);
  CPU_SET(2, &set);
  EXPECT_EQ(cpu_list(set), (std::vector<int>{0, 2, 5}));
}

// Pinned to one of its CPUs, a thread's "others" are all the rest; a
// pinned thread runs where it is pinned.
TEST(Affinity, WithoutThisCpuDropsTheCpuTheThreadRunsOn) {
  cpu_set_t mine;
  ASSERT_TRUE(current_cpus(mine));
  const std::vector<int> cpus = cpu_list(mine);
  ASSERT_FALSE(cpus.empty());
  for (int cpu : cpus) {
    std::thread t([&] {
      pin_thread(::pthread_self(), cpu);
      cpu_set_t now;
      ASSERT_TRUE(current_cpus(now));
      EXPECT_EQ(cpu_list(now), std::vector<int>{cpu});
      EXPECT_EQ(::sched_getcpu(), cpu);
      std::vector<int> rest = cpus;
      std::erase(rest, cpu);
      EXPECT_EQ(cpu_list(without_this_cpu(mine)), rest);
    });
    t.join();
  }
}

}  // namespace
}  // namespace faas
