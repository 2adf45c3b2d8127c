// CPU placement for work meant to run on more than one CPU at once. A new
// task or thread starts on its parent's CPU, and some schedulers (those of
// the small VMs this project is measured on among them) leave it there
// until the parent blocks: such work is placed explicitly.
#pragma once

#include <pthread.h>
#include <sched.h>

#include <vector>

namespace faas {

// The calling thread's CPUs; false when they cannot be read.
bool current_cpus(cpu_set_t& set);
// The CPUs in set, lowest first.
std::vector<int> cpu_list(const cpu_set_t& set);
// set without the CPU the calling thread runs on now.
cpu_set_t without_this_cpu(const cpu_set_t& set);
// Pins thread t to one CPU, best effort: on failure it stays where it may run.
void pin_thread(pthread_t t, int cpu);

}  // namespace faas
