// A process-wide budget of CPU threads. Every calling thread (main, each worker_thread, each libuv
// pool thread) gets its own OpenMP team, so concurrent calls would oversubscribe the cores; each call
// leases threads from this budget instead and passes the count to `num_threads`.
#pragma once

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

}  // namespace cc
