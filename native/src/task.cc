#include "task.h"
#include <torch/torch.h>
#include <atomic>
#include "executor.h"

namespace cxr {

namespace {
std::atomic<int> g_threads{0};
}  // namespace

void run_on_compute_thread(const Run& run);

namespace {

class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, Napi::Value keep, Run run, Done done)
      : Napi::AsyncWorker(env, "cxrtune"), deferred_(Napi::Promise::Deferred::New(env)),
        run_(std::move(run)), done_(std::move(done)) {
    if (keep.IsObject()) keep_ = Napi::Persistent(keep.As<Napi::Object>());
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      run_on_compute_thread(run_);
    } catch (const c10::Error& e) {
      SetError(clean_error(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      SetError(clean_error(e.what()));
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_ ? done_(Env()) : Env().Undefined());
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference keep_;  // the model (or the typed array a collective reduces in place)
  Run run_;
  Done done_;
};

}  // namespace

void run_on_compute_thread(const Run& run) {
  Executor::get().run([&run] {
    // OpenMP's thread count is per thread: set it on the compute thread itself.
    int n = g_threads;
    if (n > 0 && at::get_num_threads() != n) at::set_num_threads(n);
    run();
  });
}

std::string clean_error(const char* what) {
  std::string s(what);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

Napi::Promise run_async(Napi::Env env, Napi::Value keep, Run run, Done done) {
  auto* task = new Task(env, keep, std::move(run), std::move(done));
  auto p = task->Promise();
  task->Queue();
  return p;
}

void set_compute_threads(int n) { g_threads = n; }
int compute_threads() { return g_threads; }

}  // namespace cxr
