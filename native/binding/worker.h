// The binding's one AsyncWorker: a Job's execute() runs on the libuv pool (no N-API there, no memory
// JS can reach), its result(env) builds the resolution value on the main thread; failures of either
// become rejections through the one error mapping (errors.h). The Job copies every argument it needs
// into itself when it is made, on the main thread, and keeps alive what must outlive the call.
#pragma once
#include <napi.h>

#include <memory>
#include <utility>

#include "errors.h"

namespace ccjs {

template <class Job>
class Worker final : public Napi::AsyncWorker {
 public:
  Worker(Napi::Env env, const char* name, std::unique_ptr<Job> job)
      : Napi::AsyncWorker(env, name), job_(std::move(job)), deferred_(env) {}
  Napi::Promise promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { failure_ = capture([&] { job_->execute(); }); }
  void OnOK() override {
    Napi::Env env = Env();
    if (failure_.failed) return deferred_.Reject(make_js_error(env, failure_).Value());
    // An exception escaping OnOK would be an uncaught exception in the process: reject instead.
    try {
      deferred_.Resolve(job_->result(env));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (...) {
      deferred_.Reject(make_js_error(env, capture([] { throw; })).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::unique_ptr<Job> job_;
  Napi::Promise::Deferred deferred_;
  Failure failure_;
};

// Queues `job` (made on the main thread) and returns its promise. The worker is owned by the
// unique_ptr until queued, so a failure before that leaks nothing.
template <class Job>
Napi::Promise queue(Napi::Env env, const char* name, std::unique_ptr<Job> job) {
  std::unique_ptr<Worker<Job>> w(new Worker<Job>(env, name, std::move(job)));
  Napi::Promise p = w->promise();
  w->Queue();
  w.release();  // deleted by node-addon-api after OnOK / OnError
  return p;
}

}  // namespace ccjs
