// A process-wide budget of CPU threads, and the one parallel loop every algorithm uses.
//
// Every calling thread (main, each worker_thread, each libuv pool thread) gets its own OpenMP team,
// so concurrent calls would oversubscribe the cores; each call leases threads from this budget
// instead and runs its parallel loops on exactly that many (OpenMP's num_threads, or the
// std::thread pool of a build without OpenMP).
#pragma once
#include <cstdint>
#include <type_traits>

namespace cc {

// Threads a call uses by default: OMP_NUM_THREADS when set, else the cores this process may run on.
int default_threads();

class ThreadLease {
 public:
  // Takes up to `requested` threads (<= 0 means default_threads()) from what is free; at least 1.
  explicit ThreadLease(int requested);
  ~ThreadLease();
  ThreadLease(const ThreadLease&) = delete;
  ThreadLease& operator=(const ThreadLease&) = delete;
  int count() const { return count_; }

 private:
  int count_;
};

// A non-owning reference to a callable body(task, thread) (no allocation, unlike std::function).
class TaskBody {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, TaskBody>>>
  TaskBody(F&& f)  // NOLINT: implicit on purpose
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, int64_t t, int id) { (*static_cast<std::remove_reference_t<F>*>(o))(t, id); }) {}
  void operator()(int64_t task, int thread) const { call_(obj_, task, thread); }

 private:
  void* obj_;
  void (*call_)(void*, int64_t, int);
};

// Runs body(task, thread) for every task in [0, tasks) on `threads` threads (thread in [0, threads)),
// tasks handed out one at a time in order (dynamic schedule): a slow thread delays the end by one task.
void parallel_for(int threads, int64_t tasks, TaskBody body);

// The parallel runtime this build uses: "openmp" or "threads" (a std::thread pool).
const char* parallel_runtime();

}  // namespace cc
