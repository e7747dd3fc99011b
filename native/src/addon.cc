// Module entry: the NativeModel class and process-wide settings (threads, seed, allocator, info).
#include <dlfcn.h>
#include <malloc.h>
#include <napi.h>
#include <omp.h>
#include <ATen/Version.h>
#include "common.h"
#include "cpu_block_cache.h"
#include "distributed.h"
#include "step.h"
#include "task.h"

namespace cxr {
Napi::Function InitModel(Napi::Env env);
void InitProfiler(Napi::Env env, Napi::Object exports);
}

namespace {

// libtorch work on the JS thread (copying typed arrays in) runs on that thread alone: an OpenMP
// team of its own would put libgomp in its throttled mode (task.h, run_on_compute_thread).
void SingleThreadedHere() {
  at::get_num_threads();  // libtorch's per-thread lazy init first, so that it cannot undo the next line
  omp_set_num_threads(1);
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::Error::New(info.Env(), "threads must be >= 1");
  cxr::set_compute_threads(n);
  cxr::run_on_compute_thread([] {});  // applies n there
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) {
  int n = cxr::compute_threads();
  if (n == 0) cxr::run_on_compute_thread([&n] { n = at::get_num_threads(); });
  return Napi::Number::New(info.Env(), n);
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  double s = info[0].As<Napi::Number>().DoubleValue();
  if (!(s >= 0)) throw Napi::Error::New(info.Env(), "seed must be a non-negative integer");
  torch::manual_seed(uint64_t(s));
  return info.Env().Undefined();
}

// oneDNN's instruction set in use (dnnl_cpu_isa_t bit flags; the CPU's, capped by its
// ONEDNN_MAX_CPU_ISA), looked up at run time: Debian's libtorch links the shared libdnnl,
// pytorch.org's builds keep it inside and hidden (-1 then: not known).
double onednn_isa() {
  using Fn = int (*)();
  auto f = reinterpret_cast<Fn>(dlsym(RTLD_DEFAULT, "dnnl_get_effective_cpu_isa"));
  return f ? double(f()) : -1;
}
// ATen's kernel level (its ATEN_CPU_CAPABILITY choice), as at::show_config() states it.
std::string aten_capability() {
  const std::string cfg = at::show_config(), key = "CPU capability usage: ";
  auto at = cfg.find(key);
  if (at == std::string::npos) return "";
  at += key.size();
  return cfg.substr(at, cfg.find('\n', at) - at);
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("torch", TORCH_VERSION);
  o.Set("cuda", torch::cuda::is_available());
  const double gpus = torch::cuda::is_available() ? double(torch::cuda::device_count()) : 0;
  o.Set("cudaDevices", Napi::Number::New(env, gpus));
  o.Set("threads", Napi::Number::New(env, at::get_num_threads()));
  o.Set("mkldnn", at::hasMKLDNN());
  o.Set("parallel", at::get_parallel_info());
  o.Set("onednnIsa", Napi::Number::New(env, onednn_isa()));
  o.Set("atenCapability", aten_capability());
#ifdef CXR_ONEDNN
  o.Set("inferenceConv", "onednn");
#else
  o.Set("inferenceConv", "mkldnn_prepacked");
#endif
  o.Set("cpuCacheBytes", Napi::Number::New(env, double(cxr::CpuBlockCache::instance().cap())));
  return o;
}

// The CPU allocator's block cache cap in bytes (cpu_block_cache.h; 0: off). TypeScript sets it
// right after load, before any tensor.
Napi::Value ConfigureCpuCache(const Napi::CallbackInfo& info) {
  double bytes = info[0].As<Napi::Number>().DoubleValue();
  if (!(bytes >= 0 && bytes <= 9007199254740992.0))
    throw Napi::Error::New(info.Env(), "the cache cap must be a byte count >= 0");
  cxr::CpuBlockCache::instance().set_cap(size_t(bytes));
  return info.Env().Undefined();
}

// mallopt(M_ARENA_MAX, n): at most n glibc malloc arenas. glibc gives each new thread its own
// arena, and a thread arena cannot keep the tens-of-MB activation buffers of a training step:
// every step mmaps, faults in and unmaps them again (measured: MobileNetV2 predict 52 vs 83
// img/s, train 13.7 vs 15.2). With 1, new threads — the compute thread among them, started by
// the first task — share the main arena, as the tensors of a Python process do. (That alone did
// not stop the faults of the large blocks: see cpu_block_cache.h.) TypeScript calls it right
// after load, before the first task, unless MALLOC_ARENA_MAX (which glibc reads itself) is set.
// Returns false where glibc has no such setting.
Napi::Value SetMallocArenaMax(const Napi::CallbackInfo& info) {
  int n = info[0].As<Napi::Number>().Int32Value();
  if (n < 1) throw Napi::Error::New(info.Env(), "arena count must be >= 1");
#ifdef M_ARENA_MAX
  return Napi::Boolean::New(info.Env(), mallopt(M_ARENA_MAX, n) == 1);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Whether bf16/fp16 calls may use oneDNN (torch.backends.mkldnn for those calls only).
Napi::Value SetLowPrecisionOneDnn(const Napi::CallbackInfo& info) {
  cxr::set_low_precision_onednn(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Installed with no cache (cap 0) so that every tensor, the first included, goes through it;
  // configureCpuCache turns the cache on.
  c10::SetCPUAllocator(&cxr::CpuBlockCache::instance(), /*priority=*/1);
  SingleThreadedHere();
  exports.Set("NativeModel", cxr::InitModel(env));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("setLowPrecisionOneDnn", Napi::Function::New(env, SetLowPrecisionOneDnn));
  exports.Set("configureCpuCache", Napi::Function::New(env, ConfigureCpuCache));
  exports.Set("setMallocArenaMax", Napi::Function::New(env, SetMallocArenaMax));
  cxr::InitDistributed(env, exports);
  cxr::InitProfiler(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(cxrtune, Init)
