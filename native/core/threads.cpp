#include "threads.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <exception>
#include <mutex>
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

TeamPlacement::TeamPlacement() {
#if defined(__linux__)
  const int cpu = sched_getcpu();
  if (cpu >= 0 && cpu < kCpus) claim(cpu);
#endif
}

void TeamPlacement::settle(int id) {
#if defined(__linux__)
  static_assert(kCpus == CPU_SETSIZE, "one claim bit per CPU of a cpu_set_t");
  if (id == 0) {
    sched_yield();
    return;
  }
  const int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= kCpus || claim(cpu)) return;
  cpu_set_t mine;
  if (sched_getaffinity(0, sizeof mine, &mine) != 0) return;
  for (int c = 0; c < kCpus; ++c) {
    if (!CPU_ISSET(c, &mine) || !claim(c)) continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(c, &one);
    if (sched_setaffinity(0, sizeof one, &one) == 0) sched_setaffinity(0, sizeof mine, &mine);
    return;
  }
#else
  (void)id;
#endif
}

bool TeamPlacement::claim(int cpu) {
  const uint64_t bit = uint64_t(1) << (cpu % 64);
  return !(claimed_[cpu / 64].fetch_or(bit, std::memory_order_relaxed) & bit);
}

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
  TeamPlacement placement;
#pragma omp parallel num_threads(threads)
  {
    const int id = omp_get_thread_num();
    placement.settle(id);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < tasks; ++t) body(t, id);
  }
}
}  // namespace

#else  // no OpenMP: a persistent pool of helper threads

// Helpers are started on demand (at most the most helpers ever wanted at once: with the thread budget
// that is default_threads() - 1) and then kept, blocked on a condition variable while idle (no
// spinning, as OMP_WAIT_POLICY=passive). The caller always works on its own loop too, and tasks are
// taken from a shared counter, so a loop finishes even when no helper is free: helpers only speed it up.
namespace {

struct Job {
  TaskBody body;
  int64_t tasks;
  std::atomic<int64_t> next{0};
  int wanted;           // helpers still to join (guarded by the pool's mutex)
  int joined = 0;       // helpers that joined: thread ids 1 .. joined
  int running = 0;      // helpers still inside the job
  std::exception_ptr error;

  TeamPlacement placement;  // made by the thread that runs the job, so it claims that thread's CPU

  Job(TaskBody b, int64_t n, int helpers) : body(b), tasks(n), wanted(helpers) {}
  void work(int id) {
    placement.settle(id);
    for (int64_t t; (t = next.fetch_add(1)) < tasks;) body(t, id);
  }
};

class Pool {
 public:
  void run(int threads, int64_t tasks, TaskBody body) {
    Job job(body, tasks, threads - 1);
    {
      std::lock_guard<std::mutex> lock(m_);
      // Start helpers until enough are idle for this job (never more than kMaxHelpers in all).
      while (idle_ < job.wanted && int(started_) < kMaxHelpers) {
        std::thread(&Pool::helper, this).detach();
        ++started_;
        ++idle_;
      }
      queue_.push_back(&job);
    }
    work_cv_.notify_all();
    std::exception_ptr error;
    try {
      job.work(0);
    } catch (...) {
      error = std::current_exception();
      job.next.store(tasks);  // the helpers stop after their current task
    }
    std::unique_lock<std::mutex> lock(m_);
    if (job.wanted > 0) queue_.erase(std::find(queue_.begin(), queue_.end(), &job));  // no late joiner
    done_cv_.wait(lock, [&] { return job.running == 0; });
    if (!error) error = job.error;
    lock.unlock();
    if (error) std::rethrow_exception(error);
  }

 private:
  static constexpr int kMaxHelpers = 1023;

  void helper() {
    std::unique_lock<std::mutex> lock(m_);
    for (;;) {
      work_cv_.wait(lock, [&] { return !queue_.empty(); });
      Job* job = queue_.front();
      if (--job->wanted == 0) queue_.pop_front();
      const int id = ++job->joined;
      ++job->running;
      --idle_;
      lock.unlock();
      try {
        job->work(id);
      } catch (...) {
        lock.lock();
        if (!job->error) job->error = std::current_exception();
        job->next.store(job->tasks);
        lock.unlock();
      }
      lock.lock();
      ++idle_;
      if (--job->running == 0) done_cv_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<Job*> queue_;  // jobs still wanting helpers, oldest first
  int started_ = 0, idle_ = 0;
};

// Never destroyed: its detached helpers may still be waiting on it while the process exits.
Pool& pool() {
  static Pool* p = new Pool;
  return *p;
}

void run_team(int threads, int64_t tasks, TaskBody body) { pool().run(threads, tasks, body); }

}  // namespace

const char* parallel_runtime() { return "threads"; }

#endif

}  // namespace cc
