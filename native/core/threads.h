// A process-wide budget of CPU threads, and the one parallel loop every algorithm uses.
//
// Every calling thread (main, each worker_thread, each libuv pool thread) gets its own OpenMP team,
// so concurrent calls would oversubscribe the cores; each call leases threads from this budget
// instead and runs its parallel loops on exactly that many (OpenMP's num_threads, or the
// std::thread pool of a build without OpenMP).
#pragma once
#include <atomic>
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

// Where the threads of one team run (Linux; nothing elsewhere). An async call issued right after the
// main thread ran JS for a few ms had its pool thread and that thread's helper share one CPU for much
// of the call while the other core idled (`perf sched` traces; 1.4-1.7x the call's time on 2 cores:
// docs/PERF.md, "Async calls"): the helper was woken onto its waker's CPU, as Linux does when it
// skips its scan for an idle CPU (our reading: it cuts that scan back while the CPUs were recently
// busy). So the thread that
// starts a team claims its CPU before the team starts (the constructor), each helper claims the CPU
// it finds itself on (settle), and a helper whose CPU is claimed moves to an unclaimed CPU it may run
// on, then gets its own CPU mask back: it is never left pinned, it only starts elsewhere. Nothing moves
// when the scheduler already spread the team. The starting thread yields once in settle(0), so that a
// helper queued behind it on its CPU runs and moves now, not after the starter's time slice
// (milliseconds, seen in the same traces).
class TeamPlacement {
 public:
  TeamPlacement();  // on the thread that starts the team, before it starts
  // On each thread of the team when it starts; id 0 is the thread that started it.
  void settle(int id);

 private:
  static constexpr int kCpus = 1024;  // CPU_SETSIZE
  bool claim(int cpu);  // false: cpu was claimed before
  std::atomic<uint64_t> claimed_[kCpus / 64] = {};
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
