#include "faas/affinity.hpp"

namespace faas {

bool current_cpus(cpu_set_t& set) {
  CPU_ZERO(&set);
  return ::sched_getaffinity(0, sizeof set, &set) == 0;
}

std::vector<int> cpu_list(const cpu_set_t& set) {
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

cpu_set_t without_this_cpu(const cpu_set_t& set) {
  cpu_set_t out = set;
  const int here = ::sched_getcpu();
  if (here >= 0 && here < CPU_SETSIZE) CPU_CLR(here, &out);
  return out;
}

void pin_thread(pthread_t t, int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  (void)::pthread_setaffinity_np(t, sizeof one, &one);
}

}  // namespace faas
