#include "threads.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>

namespace cc {
namespace {

int compute_default() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int v = std::atoi(env);
    if (v > 0) return v;
  }
  return std::max(1, omp_get_num_procs());
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

}  // namespace cc
