#include "threads.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif
#if defined(__linux__)
#include <sched.h>
#endif

namespace cc {
namespace {

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

int compute_default() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int v = std::atoi(env);
    if (v > 0) return std::min(v, 1024);
  }
  return available_cpus();
}

std::atomic<int>& free_threads() {
  static std::atomic<int> free{default_threads()};
  return free;
}

}  // namespace

int default_threads() {
  static const int n = compute_default();
  return n;
}

ThreadLease::ThreadLease(int requested) {
  const int want = requested > 0 ? requested : default_threads();
  auto& pool = free_threads();
  int avail = pool.load();
  int take;
  do {
    // Always at least one thread, so a call never waits; concurrent calls share what is left.
    take = std::max(1, std::min(want, avail));
  } while (!pool.compare_exchange_weak(avail, avail - take));
  count_ = take;
}

ThreadLease::~ThreadLease() { free_threads().fetch_add(count_); }

namespace {
// Runs the tasks on a team of `threads` >= 2 threads (one of them the caller).
void run_team(int threads, int64_t tasks, TaskBody body);
}  // namespace

void parallel_for(int threads, int64_t tasks, TaskBody body) {
  if (threads <= 1 || tasks <= 1) {
    for (int64_t t = 0; t < tasks; ++t) body(t, 0);
    return;
  }
  run_team(int(std::min<int64_t>(threads, tasks)), tasks, body);
}

#ifdef _OPENMP

const char* parallel_runtime() { return "openmp"; }

namespace {
void run_team(int threads, int64_t tasks, TaskBody body) {
#pragma omp parallel num_threads(threads)
  {
    const int id = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) body(t, id);
  }
}
}  // namespace

#else  // no OpenMP: threads started per loop, tasks taken from a shared counter

const char* parallel_runtime() { return "threads"; }

namespace {
void run_team(int threads, int64_t tasks, TaskBody body) {
  std::atomic<int64_t> next{0};
  auto work = [&](int id) {
    for (int64_t t; (t = next.fetch_add(1)) < tasks;) body(t, id);
  };
  std::thread helpers[1023];
  const int extra = std::min(threads - 1, 1023);
  for (int i = 0; i < extra; ++i) helpers[i] = std::thread(work, i + 1);
  work(0);
  for (int i = 0; i < extra; ++i) helpers[i].join();
}
}  // namespace

#endif

}  // namespace cc
