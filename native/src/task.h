// The async runner: every heavy call is parsed on the JS thread, runs on the one
// compute thread (executor.h) from a libuv pool thread, and resolves a promise with
// plain JS data made back on the JS thread. Errors thrown while parsing reject the call
// synchronously; errors thrown while running reject the promise, as one line.
#pragma once
#include <c10/util/Exception.h>
#include <napi.h>
#include <functional>
#include <string>
#include <utility>

namespace cxr {

using Run = std::function<void()>;
using Done = std::function<Napi::Value(Napi::Env)>;

// The first line of a c10 or std error message (c10 adds context lines a user does not need).
std::string clean_error(const char* what);

// Queues `run` and returns a promise resolved with done(env) (undefined when done is empty).
// `keep` (an object, or undefined) stays alive until the promise settles.
Napi::Promise run_async(Napi::Env env, Napi::Value keep, Run run, Done done);

// Runs `run` on the compute thread and waits (the calling thread blocks). libtorch work done on
// any other thread gives that thread its own OpenMP team; with more OpenMP threads than cores,
// libgomp stops spinning between parallel regions (its "throttled" mode) and every region pays a
// futex wake-up: a MobileNetV2 batch-1 predict took 12.6 ms instead of 7.9 after the model had
// been built on the JS thread.
void run_on_compute_thread(const Run& run);

// Calls f on the JS thread, turning a c10 or std exception into a JS Error of one line.
template <typename F>
Napi::Value on_js_thread(Napi::Env env, F&& f) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, clean_error(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, clean_error(e.what()));
  }
}

// The compute thread's intra-op thread count (setThreads); 0 = libtorch's default.
void set_compute_threads(int n);
int compute_threads();

}  // namespace cxr
