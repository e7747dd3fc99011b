// libtorch's own operator profiler (what Python's torch.profiler wraps), so both sides of
// `bench --vs-python` are profiled by the same instrument. profileStart/profileStop run
// on the compute thread like every other task: the profiler's callbacks are thread-local
// there, so every step queued between the two is recorded. Returns raw events (name,
// start, duration, FLOPs of the forward ops libtorch counts); grouping, self time and
// tables are TypeScript's (src/app/opProfile.ts).
#include <torch/csrc/autograd/profiler_kineto.h>
#include "task.h"

namespace cxr {

namespace {

namespace prof = torch::autograd::profiler;
using torch::profiler::impl::ActivityType;
using torch::profiler::impl::ProfilerConfig;
using torch::profiler::impl::ProfilerState;

bool g_profiling = false;  // touched only on the compute thread

Napi::Value ProfileStart(const Napi::CallbackInfo& info) {
  return run_async(info.Env(), info.Env().Undefined(), []() {
    if (g_profiling) throw std::runtime_error("the profiler is already running (call profileStop first)");
    // FLOPs (conv, mm, add, mul) are computed from the inputs, so shapes are recorded too,
    // as Python's profiler does when with_flops is set.
    ProfilerConfig cfg(ProfilerState::KINETO, /*report_input_shapes=*/true, /*profile_memory=*/false,
                       /*with_stack=*/false, /*with_flops=*/true);
    prof::prepareProfiler(cfg, {ActivityType::CPU});
    prof::enableProfiler(cfg, {ActivityType::CPU});
    g_profiling = true;
  }, nullptr);
}

struct Events {
  std::vector<std::string> names;
  std::vector<double> start_us, dur_us, flops, thread;
};

Napi::Value ProfileStop(const Napi::CallbackInfo& info) {
  auto ev = std::make_shared<Events>();
  return run_async(info.Env(), info.Env().Undefined(), [ev]() {
    if (!g_profiling) throw std::runtime_error("the profiler is not running (call profileStart first)");
    g_profiling = false;
    auto result = prof::disableProfiler();
    for (auto& e : result->events()) {
      if (e.deviceType() != c10::DeviceType::CPU) continue;
      ev->names.push_back(e.name());
      ev->start_us.push_back(double(e.startUs()));
      ev->dur_us.push_back(double(e.durationUs()));
      ev->flops.push_back(double(e.flops()));
      ev->thread.push_back(double(e.startThreadId()));
    }
  }, [ev](Napi::Env env) -> Napi::Value {
    auto o = Napi::Object::New(env);
    size_t n = ev->names.size();
    auto names = Napi::Array::New(env, n);
    for (size_t i = 0; i < n; ++i) names.Set(uint32_t(i), ev->names[i]);
    auto f64 = [&](const std::vector<double>& v) {
      auto a = Napi::Float64Array::New(env, v.size());
      std::copy(v.begin(), v.end(), a.Data());
      return a;
    };
    o.Set("name", names);
    o.Set("startUs", f64(ev->start_us));
    o.Set("durationUs", f64(ev->dur_us));
    o.Set("flops", f64(ev->flops));
    o.Set("thread", f64(ev->thread));
    return o;
  });
}

}  // namespace

void InitProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profileStart", Napi::Function::New(env, ProfileStart));
  exports.Set("profileStop", Napi::Function::New(env, ProfileStop));
}

}  // namespace cxr
