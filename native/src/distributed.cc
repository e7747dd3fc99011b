// One process group per process, as torch.distributed's default group: a c10d TCPStore
// rendezvous (rank 0 hosts it, as init_method="env://" does) and a ProcessGroupGloo.
// Collectives run on the compute thread (executor.h), so they keep the order in which
// TypeScript issues them — the same order on every rank, which c10d requires. Policy
// (when to broadcast, what to reduce) stays in TypeScript.
#include "distributed.h"
#include "sync_batch_norm.h"
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include "task.h"

#ifdef CXR_C10D_GLOO
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace cxr {

namespace {

using namespace std::chrono;

#ifdef CXR_C10D_GLOO

// The heartbeat's timings, all TypeScript's (engine/distributed.ts).
struct HeartbeatTimes {
  milliseconds every{0};    // between two bumps of a rank's counter
  milliseconds silence{0};  // a counter still this long when a collective fails: that rank stopped
  milliseconds store{0};    // the heartbeat's own store connection gives up after this
};

// Each rank bumps a counter in the store every `every` from its own thread; when a
// collective fails, the ranks whose counter stopped are the ones named in the error.
class Heartbeat {
 public:
  Heartbeat(const std::string& host, uint16_t port, int rank, HeartbeatTimes t) : rank_(rank), t_(t) {
    c10d::TCPStoreOptions o;
    o.port = port;
    o.isServer = false;
    o.waitWorkers = false;
    o.timeout = t_.store;
    store_ = c10::make_intrusive<c10d::TCPStore>(host, o);
    thread_ = std::thread([this] { loop(); });
  }
  ~Heartbeat() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Ranks whose heartbeat did not move in `silence`; rank 0 when the store (in rank 0) is gone.
  std::string silent_ranks(int world) {
    auto read = [&](std::vector<int64_t>& out) {
      std::lock_guard<std::mutex> lk(mu_);
      for (int r = 0; r < world; ++r) {
        auto key = "cxr/hb/" + std::to_string(r);
        out.push_back(store_->check({key}) ? store_->add(key, 0) : -1);
      }
    };
    try {
      std::vector<int64_t> a, b;
      read(a);
      std::this_thread::sleep_for(t_.silence);
      read(b);
      std::string dead;
      for (int r = 0; r < world; ++r)
        if (r != rank_ && a[r] == b[r]) dead += (dead.empty() ? "" : ", ") + std::to_string(r);
      std::ostringstream s;
      s << "rank " << dead << " stopped (no heartbeat for " << t_.silence.count() / 1000.0 << " s)";
      return dead.empty() ? "" : s.str();
    } catch (const std::exception&) {
      return "rank 0 stopped (the rendezvous store it hosts does not answer)";
    }
  }

 private:
  void loop() {
    const auto key = "cxr/hb/" + std::to_string(rank_);
    while (!stop_) {
      try {
        std::lock_guard<std::mutex> lk(mu_);
        store_->add(key, 1);
      } catch (const std::exception&) {
        return;  // the store is gone; the next collective reports it
      }
      // In steps of at most 100 ms, so that stopping never waits long.
      for (auto left = t_.every; left.count() > 0 && !stop_; left -= milliseconds(100))
        std::this_thread::sleep_for(std::min(left, milliseconds(100)));
    }
  }
  int rank_;
  HeartbeatTimes t_;
  c10::intrusive_ptr<c10d::TCPStore> store_;
  std::mutex mu_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Group {
  int rank = 0, world = 1;
  std::string backend = "gloo";
  milliseconds timeout{0};  // set by initProcessGroup
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  std::unique_ptr<Heartbeat> heartbeat;
  bool grad_sync = false;
  bool sync_bn = false;  // set by setSyncBatchNorm
  int64_t bucket_bytes = 0;  // set by setGradSync
  std::vector<torch::Tensor> buckets;  // reused between steps while the layout holds
};
Group* g_group = nullptr;

Group& group() {
  if (!g_group) throw std::runtime_error("no process group: call initProcessGroup first");
  return *g_group;
}

// Waits for a collective; a failure becomes one line naming the op and, if it can tell,
// the rank that stopped.
void wait_or_explain(const c10::intrusive_ptr<c10d::Work>& w, const char* op) {
  try {
    w->wait();
  } catch (const std::exception& e) {
    auto& g = group();
    std::string who = g.heartbeat ? g.heartbeat->silent_ranks(g.world) : "";
    std::ostringstream s;
    s << "distributed " << op << " failed on rank " << g.rank << " of " << g.world;
    if (!who.empty()) s << ": " << who;
    s << " (" << clean_error(e.what()) << "; collective timeout " << g.timeout.count() / 1000.0 << " s)";
    throw std::runtime_error(s.str());
  }
}

#endif  // CXR_C10D_GLOO

[[noreturn]] void no_c10d() {
  throw std::runtime_error(
      "this build of the addon has no c10d Gloo (install libgloo-dev and rebuild: node scripts/build-native.mjs)");
}

// Runs work on the compute thread (task.h), behind the model calls issued before it.
Napi::Value queue(const Napi::CallbackInfo& info, Napi::Value keep, std::function<void()> run,
                  std::function<Napi::Value(Napi::Env)> done = nullptr) {
  return run_async(info.Env(), keep, std::move(run), std::move(done));
}

// A tensor over a typed array's memory (no copy): collectives work on it in place.
torch::Tensor view_typed(const Napi::Value& v) {
  if (!v.IsTypedArray()) throw Napi::Error::New(v.Env(), "expected a typed array");
  auto ta = v.As<Napi::TypedArray>();
  c10::ScalarType dt;
  switch (ta.TypedArrayType()) {
    case napi_float32_array: dt = torch::kFloat; break;
    case napi_float64_array: dt = torch::kDouble; break;
    case napi_int32_array: dt = torch::kInt; break;
    case napi_uint8_array: dt = torch::kByte; break;
    case napi_bigint64_array: dt = torch::kLong; break;
    default:
      throw Napi::Error::New(v.Env(),
                             "collectives take a Float32Array, Float64Array, Int32Array, Uint8Array or BigInt64Array");
  }
  auto* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return torch::from_blob(data, {int64_t(ta.ElementLength())}, torch::TensorOptions().dtype(dt));
}

// initProcessGroup({ masterAddr, masterPort, rank, worldSize, timeoutMs, backend, hostStore,
// socketInterface, glooThreads, heartbeatMs, heartbeatSilenceMs, heartbeatStoreTimeoutMs })
// → { rank, worldSize, backend }
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  auto env = info.Env();
  if (g_group) throw Napi::Error::New(env, "a process group is already initialised in this process");
  auto o = info[0].As<Napi::Object>();
  auto addr = o.Get("masterAddr").ToString().Utf8Value();
  int port = o.Get("masterPort").As<Napi::Number>().Int32Value();
  int rank = o.Get("rank").As<Napi::Number>().Int32Value();
  int world = o.Get("worldSize").As<Napi::Number>().Int32Value();
  // Every setting comes from TypeScript (engine/distributed.ts): no defaults, no environment here.
  double tmo = o.Get("timeoutMs").As<Napi::Number>().DoubleValue();
  std::string backend = o.Get("backend").ToString().Utf8Value();
  bool host_store = o.Get("hostStore").ToBoolean();
  std::string ifname = o.Get("socketInterface").IsString() ? o.Get("socketInterface").ToString().Utf8Value() : "";
  int threads = o.Get("glooThreads").As<Napi::Number>().Int32Value();
  auto ms = [&](const char* key) {
    double v = o.Get(key).As<Napi::Number>().DoubleValue();
    if (!(v >= 1 && v <= 86400000)) throw Napi::Error::New(env, std::string(key) + " must be in 1..86400000");
    return milliseconds(int64_t(v));
  };
  HeartbeatTimes hb{ms("heartbeatMs"), ms("heartbeatSilenceMs"), ms("heartbeatStoreTimeoutMs")};
  if (backend != "gloo")
    throw Napi::Error::New(env, "backend '" + backend +
                                    "' is not built into this addon (gloo only; NCCL needs a CUDA libtorch)");
  if (world < 1 || rank < 0 || rank >= world) throw Napi::Error::New(env, "rank must be in [0, worldSize)");
  if (port < 1 || port > 65535) throw Napi::Error::New(env, "masterPort must be in 1..65535");
  if (!(tmo >= 1000)) throw Napi::Error::New(env, "timeoutMs must be >= 1000");
  if (threads < 1) throw Napi::Error::New(env, "glooThreads must be >= 1");
  auto out = std::make_shared<Group>();
  out->rank = rank;
  out->world = world;
  out->timeout = milliseconds(int64_t(tmo));
  auto run = [out, addr, port, host_store, ifname, threads, hb]() {
    c10d::TCPStoreOptions so;
    so.port = uint16_t(port);
    so.isServer = host_store;
    so.numWorkers = out->world;
    so.waitWorkers = false;
    so.timeout = out->timeout;
    try {
      out->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
    } catch (const std::exception& e) {
      throw std::runtime_error("rendezvous at " + addr + ":" + std::to_string(port) + " failed for rank " +
                               std::to_string(out->rank) + ": " + clean_error(e.what()));
    }
    auto po = c10d::ProcessGroupGloo::Options::create(out->timeout);
    if (!ifname.empty())
      po->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    else if (addr == "localhost" || addr.rfind("127.", 0) == 0)
      po->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    else
      po->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    po->threads = threads;
    // The constructor connects every pair of ranks through the store (waits for all).
    auto prefixed = c10::make_intrusive<c10d::PrefixStore>("default_pg", out->store);
    out->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, out->rank, out->world, po);
    out->heartbeat = std::make_unique<Heartbeat>(addr, uint16_t(port), out->rank, hb);
    g_group = new Group(std::move(*out));
  };
  return queue(info, env.Undefined(), run, [](Napi::Env env) -> Napi::Value {
    auto r = Napi::Object::New(env);
    r.Set("rank", g_group->rank);
    r.Set("worldSize", g_group->world);
    r.Set("backend", g_group->backend);
    return r;
  });
#endif
}

// allReduce(typedArray, op = 'sum' | 'max' | 'min') → in place
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  auto t = view_typed(info[0]);
  std::string op = info.Length() > 1 && info[1].IsString() ? info[1].ToString().Utf8Value() : "sum";
  c10d::AllreduceOptions o;
  if (op == "sum") o.reduceOp = c10d::ReduceOp::SUM;
  else if (op == "max") o.reduceOp = c10d::ReduceOp::MAX;
  else if (op == "min") o.reduceOp = c10d::ReduceOp::MIN;
  else throw Napi::Error::New(info.Env(), "allReduce op must be sum, max or min");
  return queue(info, info[0], [t, o]() mutable {
    std::vector<torch::Tensor> ts{t};
    wait_or_explain(group().pg->allreduce(ts, o), "allreduce");
  });
#endif
}

// broadcast(typedArray, root = 0) → in place
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  auto t = view_typed(info[0]);
  c10d::BroadcastOptions o;
  o.rootRank = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  return queue(info, info[0], [t, o]() mutable {
    if (o.rootRank < 0 || o.rootRank >= group().world) throw std::runtime_error("broadcast root out of range");
    std::vector<torch::Tensor> ts{t};
    wait_or_explain(group().pg->broadcast(ts, o), "broadcast");
  });
#endif
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  return queue(info, info.Env().Undefined(), []() { wait_or_explain(group().pg->barrier(), "barrier"); });
#endif
}

// setGradSync(enabled, bucketMB)
Napi::Value SetGradSync(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  bool on = info[0].ToBoolean();
  double mb = info[1].As<Napi::Number>().DoubleValue();
  if (!(mb > 0)) throw Napi::Error::New(info.Env(), "bucket size must be > 0 MB");
  return queue(info, info.Env().Undefined(), [on, mb]() {
    auto& g = group();
    g.grad_sync = on;
    g.bucket_bytes = int64_t(mb * (1 << 20));
    g.buckets.clear();
  });
#endif
}

// setSyncBatchNorm(enabled): training-mode BatchNorm over the global batch (sync_batch_norm.cc).
Napi::Value SetSyncBatchNorm(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  bool on = info[0].ToBoolean();
  return queue(info, info.Env().Undefined(), [on]() { group().sync_bn = on; });
#endif
}

Napi::Value DestroyProcessGroup(const Napi::CallbackInfo& info) {
#ifndef CXR_C10D_GLOO
  return info.Env().Undefined();
#else
  return queue(info, info.Env().Undefined(), []() {
    if (!g_group) return;
    auto* g = g_group;
    g_group = nullptr;
    g->heartbeat.reset();
    delete g;
  });
#endif
}

Napi::Value DistInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto o = Napi::Object::New(env);
#ifdef CXR_C10D_GLOO
  o.Set("available", true);
  if (g_group) {
    o.Set("rank", g_group->rank);
    o.Set("worldSize", g_group->world);
    o.Set("backend", g_group->backend);
    o.Set("gradSync", g_group->grad_sync);
    o.Set("syncBatchNorm", g_group->sync_bn);
  }
#else
  o.Set("available", false);
#endif
  return o;
}

}  // namespace

bool grad_sync_active() {
#ifdef CXR_C10D_GLOO
  return g_group && g_group->grad_sync && g_group->world > 1;
#else
  return false;
#endif
}

bool sync_bn_active() {
#ifdef CXR_C10D_GLOO
  return g_group && g_group->sync_bn && g_group->world > 1;
#else
  return false;
#endif
}

void allreduce_sum(torch::Tensor& t, const char* op) {
#ifndef CXR_C10D_GLOO
  no_c10d();
#else
  TORCH_CHECK(t.is_contiguous(), "allreduce_sum needs a contiguous tensor");
  std::vector<torch::Tensor> ts{t};
  wait_or_explain(group().pg->allreduce(ts), op);
#endif
}

bool sync_gradients(const std::vector<torch::Tensor>& params, bool finite) {
#ifndef CXR_C10D_GLOO
  return finite;
#else
  auto& g = group();
  // Buckets of whole tensors of one dtype, up to bucket_bytes each, in parameter order
  // (as DDP's; its reverse order only matters when it overlaps with backward).
  struct Slot { size_t bucket; int64_t offset; };
  std::vector<Slot> slots;
  std::vector<std::pair<c10::ScalarType, int64_t>> layout;  // dtype, elements per bucket
  for (auto& p : params) {
    auto dt = p.scalar_type();
    int64_t n = p.numel(), bytes = n * int64_t(c10::elementSize(dt));
    if (layout.empty() || layout.back().first != dt ||
        (layout.back().second > 0 && (layout.back().second * int64_t(c10::elementSize(dt)) + bytes) > g.bucket_bytes))
      layout.push_back({dt, 0});
    slots.push_back({layout.size() - 1, layout.back().second});
    layout.back().second += n;
  }
  bool same = g.buckets.size() == layout.size();
  for (size_t b = 0; same && b < layout.size(); ++b)
    same = g.buckets[b].scalar_type() == layout[b].first && g.buckets[b].numel() == layout[b].second;
  if (!same) {
    g.buckets.clear();
    auto dev = params.empty() ? torch::Device(torch::kCPU) : params[0].device();
    for (auto& l : layout)
      g.buckets.push_back(torch::empty({l.second}, torch::TensorOptions().dtype(l.first).device(dev)));
  }
  // Fill a bucket, start its all-reduce, go on to the next while Gloo sends this one.
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  size_t i = 0;
  for (size_t b = 0; b < layout.size(); ++b) {
    auto& buf = g.buckets[b];
    if (!finite) buf.fill_(NAN);
    for (; i < params.size() && slots[i].bucket == b; ++i) {
      auto dst = buf.narrow(0, slots[i].offset, params[i].numel()).view(params[i].sizes());
      auto& grad = const_cast<torch::Tensor&>(params[i]).mutable_grad();
      if (!finite) continue;
      if (grad.defined()) dst.copy_(grad);
      else dst.zero_();  // unused parameter: zero, as DDP's find_unused_parameters
    }
    std::vector<torch::Tensor> ts{buf};
    works.push_back(g.pg->allreduce(ts));
  }
  bool all_finite = true;
  i = 0;
  for (size_t b = 0; b < layout.size(); ++b) {
    wait_or_explain(works[b], "gradient allreduce");
    auto& buf = g.buckets[b];
    buf.div_(double(g.world));
    if (all_finite && !torch::isfinite(buf).all().item<bool>()) all_finite = false;
    for (; i < params.size() && slots[i].bucket == b; ++i) {
      auto& grad = const_cast<torch::Tensor&>(params[i]).mutable_grad();
      if (!grad.defined()) continue;  // stays undefined: the optimizer skips it, as without a group
      grad.copy_(buf.narrow(0, slots[i].offset, params[i].numel()).view(params[i].sizes()));
    }
  }
  return all_finite;
#endif
}

void InitDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup));
  exports.Set("destroyProcessGroup", Napi::Function::New(env, DestroyProcessGroup));
  exports.Set("allReduce", Napi::Function::New(env, AllReduce));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("setGradSync", Napi::Function::New(env, SetGradSync));
  exports.Set("setSyncBatchNorm", Napi::Function::New(env, SetSyncBatchNorm));
  exports.Set("distInfo", Napi::Function::New(env, DistInfo));
}

}  // namespace cxr
