// The NativeModel object: one network, its optimizer and its state, driven by
// coarse async calls from TypeScript. It holds no policy: schedules, groups,
// loss scaling, validation of checkpoints all live in TypeScript.
#include <napi.h>
#include <cmath>
#include <mutex>
#include <sstream>
#include "common.h"
#include "distributed.h"
#include "executor.h"
#include "unet.h"  // segmenter (issue 11)

namespace cxr {

BnObserver*& bn_observer() {
  static thread_local BnObserver* obs = nullptr;
  return obs;
}

std::atomic<int> g_threads{0};

std::string clean_error(const char* what) {
  // c10 messages end with context lines; the first line is what a user needs.
  std::string s(what);
  auto nl = s.find('\n');
  if (nl != std::string::npos) s = s.substr(0, nl);
  return s;
}

// Runs `run` on the libuv pool, resolves the promise with `done(env)` on the JS thread.
class Task : public Napi::AsyncWorker {
 public:
  Task(Napi::Env env, Napi::Object self, std::function<void()> run, std::function<Napi::Value(Napi::Env)> done)
      : Napi::AsyncWorker(env, "cxrtune"), deferred_(Napi::Promise::Deferred::New(env)),
        self_(Napi::Persistent(self)), run_(std::move(run)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      Executor::get().run([this] {
        if (g_threads > 0 && at::get_num_threads() != g_threads) at::set_num_threads(g_threads);
        run_();
      });
    } catch (const c10::Error& e) {
      SetError(clean_error(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      SetError(clean_error(e.what()));
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;  // keeps the model alive while the task runs
  std::function<void()> run_;
  std::function<Napi::Value(Napi::Env)> done_;
};

namespace {

struct Entry {
  std::string name;
  torch::Tensor t;
  bool is_param;
};

struct HostInput {
  torch::Tensor pixels;  // NHWC, uint8 or float, CPU, owned copy
  std::array<double, 3> mean{0.485, 0.456, 0.406}, std{0.229, 0.224, 0.225};
};

const char* dtype_name(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "F32";
    case torch::kHalf: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kDouble: return "F64";
    case torch::kLong: return "I64";
    case torch::kInt: return "I32";
    case torch::kByte: return "U8";
    default: throw std::runtime_error("unsupported tensor dtype");
  }
}
c10::ScalarType dtype_from(const std::string& s) {
  if (s == "F32") return torch::kFloat;
  if (s == "F16") return torch::kHalf;
  if (s == "BF16") return torch::kBFloat16;
  if (s == "F64") return torch::kDouble;
  if (s == "I64") return torch::kLong;
  if (s == "I32") return torch::kInt;
  if (s == "U8") return torch::kByte;
  throw std::runtime_error("unsupported tensor dtype '" + s + "'");
}

std::vector<int64_t> to_shape(const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw std::runtime_error(std::string(what) + " must be an array of integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value e = a[i];
    if (!e.IsNumber()) throw std::runtime_error(std::string(what) + " must be an array of integers");
    double d = e.As<Napi::Number>().DoubleValue();
    if (d < 0 || d != std::floor(d)) throw std::runtime_error(std::string(what) + " must hold non-negative integers");
    out.push_back(int64_t(d));
  }
  return out;
}

Napi::Array shape_array(Napi::Env env, c10::IntArrayRef s) {
  auto a = Napi::Array::New(env, s.size());
  for (size_t i = 0; i < s.size(); ++i) a[i] = Napi::Number::New(env, double(s[i]));
  return a;
}

// Copies a JS typed array's bytes into an owned CPU tensor of the given dtype/shape.
torch::Tensor tensor_from_typed(const Napi::Value& v, c10::ScalarType dt, const std::vector<int64_t>& shape,
                                const std::string& what) {
  if (!v.IsTypedArray()) throw std::runtime_error(what + " must be a typed array");
  auto ta = v.As<Napi::TypedArray>();
  size_t bytes = ta.ByteLength();
  int64_t numel = 1;
  for (auto d : shape) numel *= d;
  size_t want = size_t(numel) * c10::elementSize(dt);
  if (bytes != want)
    throw std::runtime_error(what + ": " + std::to_string(bytes) + " bytes for shape of " + std::to_string(numel) +
                             " elements of " + dtype_name(dt) + " (expected " + std::to_string(want) + ")");
  auto* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  return torch::from_blob(data, shape, torch::TensorOptions().dtype(dt)).clone();
}

Napi::Float32Array float_array(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat).contiguous();
  auto out = Napi::Float32Array::New(env, size_t(c.numel()));
  std::memcpy(out.Data(), c.data_ptr<float>(), size_t(c.numel()) * sizeof(float));
  return out;
}

HostInput parse_input(const Napi::Object& req) {
  HostInput in;
  auto shape = to_shape(req.Get("shape"), "batch shape");
  if (shape.size() != 4) throw std::runtime_error("batch shape must be [N, H, W, C]");
  if (shape[3] != 1 && shape[3] != 3) throw std::runtime_error("batch must have 1 or 3 channels (got " + std::to_string(shape[3]) + ")");
  if (shape[0] < 1 || shape[1] < 8 || shape[2] < 8) throw std::runtime_error("batch must hold at least one image of at least 8x8 pixels");
  Napi::Value px = req.Get("pixels");
  if (!px.IsTypedArray()) throw std::runtime_error("batch pixels must be a Uint8Array or Float32Array");
  auto kind = px.As<Napi::TypedArray>().TypedArrayType();
  if (kind == napi_uint8_array || kind == napi_uint8_clamped_array) in.pixels = tensor_from_typed(px, torch::kByte, shape, "batch pixels");
  else if (kind == napi_float32_array) in.pixels = tensor_from_typed(px, torch::kFloat, shape, "batch pixels");
  else throw std::runtime_error("batch pixels must be a Uint8Array or Float32Array");
  for (const char* key : {"mean", "std"}) {
    Napi::Value v = req.Get(key);
    if (v.IsUndefined()) continue;
    if (!v.IsArray() || v.As<Napi::Array>().Length() != 3) throw std::runtime_error(std::string(key) + " must have 3 numbers");
    auto a = v.As<Napi::Array>();
    auto& dst = std::string(key) == "mean" ? in.mean : in.std;
    for (uint32_t i = 0; i < 3; ++i) dst[i] = a.Get(i).As<Napi::Number>().DoubleValue();
  }
  for (double s : in.std) if (!(s > 0)) throw std::runtime_error("std must be positive");
  return in;
}

}  // namespace

class NativeModel : public Napi::ObjectWrap<NativeModel> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeModel",
                       {InstanceMethod("entries", &NativeModel::Entries),
                        InstanceMethod("modules", &NativeModel::Modules),
                        InstanceMethod("blocks", &NativeModel::Blocks),
                        InstanceMethod("getState", &NativeModel::GetState),
                        InstanceMethod("setState", &NativeModel::SetState),
                        InstanceMethod("configureOptimizer", &NativeModel::ConfigureOptimizer),
                        InstanceMethod("trainStep", &NativeModel::TrainStep),
                        InstanceMethod("predict", &NativeModel::Predict),
                        InstanceMethod("gradCam", &NativeModel::GradCam),
                        InstanceMethod("features", &NativeModel::Features),
                        InstanceMethod("setTrainable", &NativeModel::SetTrainable),
                        InstanceMethod("setBatchNormMode", &NativeModel::SetBatchNormMode),
                        InstanceMethod("getOptimizerState", &NativeModel::GetOptimizerState),
                        InstanceMethod("setOptimizerState", &NativeModel::SetOptimizerState),
                        InstanceMethod("bnInputStats", &NativeModel::BnInputStats)});
  }

  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    auto env = info.Env();
    try {
      if (info.Length() < 1 || !info[0].IsObject()) throw std::runtime_error("createModel needs a spec object");
      auto spec = info[0].As<Napi::Object>();
      std::string arch = spec.Get("arch").ToString();
      NetOptions o;
      o.num_classes = spec.Has("numClasses") ? spec.Get("numClasses").As<Napi::Number>().Int64Value() : 1000;
      if (o.num_classes < 1) throw std::runtime_error("numClasses must be >= 1");
      if (spec.Has("dropout") && spec.Get("dropout").IsNumber()) o.dropout = spec.Get("dropout").As<Napi::Number>().DoubleValue();
      o.stride_in_1x1 = spec.Has("strideIn1x1") && spec.Get("strideIn1x1").ToBoolean();
      std::string dev = spec.Has("device") && spec.Get("device").IsString() ? spec.Get("device").ToString().Utf8Value() : "cpu";
      channels_last_ = spec.Has("channelsLast") && spec.Get("channelsLast").ToBoolean();
      if (arch.rfind("resnet", 0) == 0) net_ = make_resnet(arch, o);
      else if (arch.rfind("densenet", 0) == 0) net_ = make_densenet(arch, o);
      else if (arch == "mobilenet_v2") net_ = make_mobilenet_v2(o);
      // Segmenter (unet.cc): spec.decoderChannels, 5 counts; smp's default 256..16.
      else if (arch.rfind("unet_", 0) == 0) {
        std::vector<int64_t> dec{256, 128, 64, 32, 16};
        if (spec.Has("decoderChannels") && spec.Get("decoderChannels").IsArray()) dec = to_shape(spec.Get("decoderChannels"), "decoderChannels");
        net_ = make_unet(arch, o, dec);
      }
      if (!net_) throw std::runtime_error("unknown architecture '" + arch + "'");
      num_classes_ = o.num_classes;
      device_ = torch::Device(dev);
      if (device_.is_cuda() && !torch::cuda::is_available())
        throw std::runtime_error("device '" + dev + "' asked for, but this libtorch has no CUDA or no GPU is visible");
      net_->to(device_);
      if (channels_last_) {
        torch::NoGradGuard ng;
        for (auto& p : net_->parameters())
          if (p.dim() == 4) p.set_data(p.contiguous(at::MemoryFormat::ChannelsLast));
      }
      // torchvision's state_dict order: per module (pre-order), its params then its buffers.
      for (auto& item : net_->named_modules()) {
        const std::string prefix = item.key().empty() ? "" : item.key() + ".";
        for (auto& p : item.value()->named_parameters(false)) entries_.push_back({prefix + p.key(), p.value(), true});
        for (auto& b : item.value()->named_buffers(false)) entries_.push_back({prefix + b.key(), b.value(), false});
        if (auto* bnm = item.value()->as<torch::nn::BatchNorm2d>()) bn_names_[bnm] = item.key();
      }
      for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].name] = int(i);
    } catch (const c10::Error& e) {
      Napi::Error::New(env, clean_error(e.what_without_backtrace())).ThrowAsJavaScriptException();
    } catch (const std::exception& e) {
      Napi::Error::New(env, e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  std::shared_ptr<Net> net_;
  torch::Device device_{torch::kCPU};
  bool channels_last_ = false;
  int64_t num_classes_ = 0;
  std::vector<Entry> entries_;
  std::unordered_map<std::string, int> index_;
  std::unordered_map<const torch::nn::BatchNorm2dImpl*, std::string> bn_names_;
  std::unique_ptr<torch::optim::Optimizer> opt_;
  std::string opt_kind_;
  std::vector<std::vector<int>> groups_;
  std::string bn_mode_ = "train";
  std::mutex mu_;  // serialises every call on this model

  template <typename F>
  Napi::Value Sync(const Napi::CallbackInfo& info, F&& f) {
    try {
      std::lock_guard<std::mutex> lk(mu_);
      return f();
    } catch (const c10::Error& e) {
      throw Napi::Error::New(info.Env(), clean_error(e.what_without_backtrace()));
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
  }
  // Parses on the JS thread (errors thrown synchronously), runs on the pool.
  template <typename P>
  Napi::Value Async(const Napi::CallbackInfo& info, P&& prepare) {
    std::pair<std::function<void()>, std::function<Napi::Value(Napi::Env)>> fns;
    try {
      fns = prepare();
    } catch (const Napi::Error&) {
      throw;
    } catch (const c10::Error& e) {
      throw Napi::Error::New(info.Env(), clean_error(e.what_without_backtrace()));
    } catch (const std::exception& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    auto* task = new Task(info.Env(), info.This().As<Napi::Object>(), std::move(fns.first), std::move(fns.second));
    auto p = task->Promise();
    task->Queue();
    return p;
  }

  torch::Tensor to_device_input(const HostInput& in) const {
    auto x = in.pixels.to(device_).to(torch::kFloat).div_(255.0);  // NHWC in [0, 1]
    if (x.size(3) == 1) x = x.expand({x.size(0), x.size(1), x.size(2), 3});
    x = x.permute({0, 3, 1, 2});
    auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device_);
    auto m = torch::tensor({in.mean[0], in.mean[1], in.mean[2]}, opts).view({1, 3, 1, 1});
    auto s = torch::tensor({in.std[0], in.std[1], in.std[2]}, opts).view({1, 3, 1, 1});
    x = (x - m) / s;  // torchvision's Normalize after ToTensor
    return channels_last_ ? x.contiguous(at::MemoryFormat::ChannelsLast) : x.contiguous();
  }

  void set_mode(bool training) {
    net_->train(training);
    if (!training) return;
    if (bn_mode_ == "eval") net_->eval();
    else if (bn_mode_ == "frozen")
      for (auto& kv : bn_names_) const_cast<torch::nn::BatchNorm2dImpl*>(kv.first)->eval();
  }

  // The key torch::optim uses for per-parameter state: the TensorImpl address,
  // printed as a string in libtorch 1.x, a void* in 2.x.
  template <typename K>
  static K state_key_as(const torch::Tensor& p) {
    if constexpr (std::is_same_v<K, std::string>) {
      std::ostringstream s;
      s << p.unsafeGetTensorImpl();
      return s.str();
    } else {
      return static_cast<K>(p.unsafeGetTensorImpl());
    }
  }
  auto state_key(const torch::Tensor& p) const {
    using Map = std::remove_reference_t<decltype(opt_->state())>;
    return state_key_as<typename Map::key_type>(p);
  }

  Napi::Value Entries(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      auto env = info.Env();
      auto out = Napi::Array::New(env, entries_.size());
      for (size_t i = 0; i < entries_.size(); ++i) {
        auto o = Napi::Object::New(env);
        o.Set("name", entries_[i].name);
        o.Set("shape", shape_array(env, entries_[i].t.sizes()));
        o.Set("kind", entries_[i].is_param ? "param" : "buffer");
        o.Set("trainable", entries_[i].is_param && entries_[i].t.requires_grad());
        out[i] = o;
      }
      return out;
    });
  }

  // Modules that own parameters directly, in registration (input → output) order.
  Napi::Value Modules(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      auto env = info.Env();
      auto out = Napi::Array::New(env);
      uint32_t n = 0;
      for (auto& item : net_->named_modules()) {
        auto own = item.value()->named_parameters(false);
        if (own.is_empty()) continue;
        auto o = Napi::Object::New(env);
        o.Set("name", item.key());
        const char* kind = item.value()->as<torch::nn::Conv2d>() ? "conv"
                           : item.value()->as<torch::nn::BatchNorm2d>() ? "bn"
                           : item.value()->as<torch::nn::Linear>() ? "linear" : "other";
        o.Set("kind", kind);
        auto idx = Napi::Array::New(env);
        uint32_t k = 0;
        for (auto& p : own) idx[k++] = Napi::Number::New(env, index_.at(item.key() + "." + p.key()));
        o.Set("params", idx);
        out[n++] = o;
      }
      return out;
    });
  }

  Napi::Value Blocks(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      auto env = info.Env();
      auto names = net_->block_names();
      auto out = Napi::Object::New(env);
      auto arr = Napi::Array::New(env, names.size());
      for (size_t i = 0; i < names.size(); ++i) arr[i] = names[i];
      out.Set("blocks", arr);
      out.Set("camLayer", net_->default_cam_layer);
      return out;
    });
  }

  Napi::Value GetState(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto snap = std::make_shared<std::vector<std::pair<std::string, torch::Tensor>>>();
      auto run = [this, snap]() {
        std::lock_guard<std::mutex> lk(mu_);
        torch::NoGradGuard ng;
        for (auto& e : entries_) snap->push_back({e.name, e.t.detach().to(torch::kCPU).contiguous().clone()});
      };
      auto done = [snap](Napi::Env env) -> Napi::Value { return tensors_to_js(env, *snap); };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  static Napi::Value tensors_to_js(Napi::Env env, const std::vector<std::pair<std::string, torch::Tensor>>& ts) {
    auto out = Napi::Array::New(env, ts.size());
    for (size_t i = 0; i < ts.size(); ++i) {
      auto& t = ts[i].second;
      auto o = Napi::Object::New(env);
      o.Set("name", ts[i].first);
      o.Set("dtype", dtype_name(t.scalar_type()));
      o.Set("shape", shape_array(env, t.sizes()));
      size_t bytes = size_t(t.numel()) * t.element_size();
      auto buf = Napi::Uint8Array::New(env, bytes);
      if (bytes) std::memcpy(buf.Data(), t.data_ptr(), bytes);
      o.Set("data", buf);
      out[i] = o;
    }
    return out;
  }

  static std::vector<std::pair<std::string, torch::Tensor>> tensors_from_js(const Napi::Value& v) {
    if (!v.IsArray()) throw std::runtime_error("expected an array of tensors");
    auto a = v.As<Napi::Array>();
    std::vector<std::pair<std::string, torch::Tensor>> out;
    for (uint32_t i = 0; i < a.Length(); ++i) {
      auto o = a.Get(i).As<Napi::Object>();
      std::string name = o.Get("name").ToString();
      auto dt = dtype_from(o.Get("dtype").ToString());
      auto shape = to_shape(o.Get("shape"), ("shape of " + name).c_str());
      out.push_back({name, tensor_from_typed(o.Get("data"), dt, shape, "data of " + name)});
    }
    return out;
  }

  Napi::Value SetState(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto items = std::make_shared<std::vector<std::pair<std::string, torch::Tensor>>>(tensors_from_js(info[0]));
      for (auto& kv : *items) {
        auto it = index_.find(kv.first);
        if (it == index_.end()) throw std::runtime_error("unexpected tensor '" + kv.first + "'");
        if (entries_[it->second].t.sizes() != kv.second.sizes())
          throw std::runtime_error("shape mismatch for '" + kv.first + "'");
      }
      auto run = [this, items]() {
        std::lock_guard<std::mutex> lk(mu_);
        torch::NoGradGuard ng;
        for (auto& kv : *items) entries_[index_.at(kv.first)].t.copy_(kv.second);
      };
      auto done = [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  Napi::Value ConfigureOptimizer(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      auto cfg = info[0].As<Napi::Object>();
      std::string kind = cfg.Get("kind").ToString();
      if (kind != "sgd" && kind != "adamw" && kind != "adam")
        throw std::runtime_error("unknown optimizer '" + kind + "' (sgd, adam, adamw)");
      bool nesterov = cfg.Get("nesterov").ToBoolean();
      double beta2 = cfg.Get("beta2").IsNumber() ? cfg.Get("beta2").As<Napi::Number>().DoubleValue() : 0.999;
      double eps = cfg.Get("eps").IsNumber() ? cfg.Get("eps").As<Napi::Number>().DoubleValue() : 1e-8;
      auto ga = cfg.Get("groups").As<Napi::Array>();
      std::vector<std::vector<int>> groups;
      std::vector<bool> seen(entries_.size(), false);
      std::vector<torch::optim::OptimizerParamGroup> pgs;
      for (uint32_t g = 0; g < ga.Length(); ++g) {
        auto idx = ga.Get(g).As<Napi::Array>();
        std::vector<int> ids;
        std::vector<torch::Tensor> ps;
        for (uint32_t k = 0; k < idx.Length(); ++k) {
          int i = idx.Get(k).As<Napi::Number>().Int32Value();
          if (i < 0 || size_t(i) >= entries_.size() || !entries_[i].is_param)
            throw std::runtime_error("optimizer group " + std::to_string(g) + " names index " + std::to_string(i) + ", which is not a parameter");
          if (seen[i]) throw std::runtime_error("parameter '" + entries_[i].name + "' is in two optimizer groups");
          seen[i] = true;
          ids.push_back(i);
          ps.push_back(entries_[i].t);
        }
        groups.push_back(ids);
        if (kind == "sgd")
          pgs.emplace_back(ps, std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.0).nesterov(nesterov)));
        else if (kind == "adamw")
          pgs.emplace_back(ps, std::make_unique<torch::optim::AdamWOptions>(torch::optim::AdamWOptions(0.0).betas({0.9, beta2}).eps(eps)));
        else
          pgs.emplace_back(ps, std::make_unique<torch::optim::AdamOptions>(torch::optim::AdamOptions(0.0).betas({0.9, beta2}).eps(eps)));
      }
      if (groups.empty()) throw std::runtime_error("optimizer needs at least one parameter group");
      if (kind == "sgd") opt_ = std::make_unique<torch::optim::SGD>(pgs, torch::optim::SGDOptions(0.0));
      else if (kind == "adamw") opt_ = std::make_unique<torch::optim::AdamW>(pgs, torch::optim::AdamWOptions(0.0));
      else opt_ = std::make_unique<torch::optim::Adam>(pgs, torch::optim::AdamOptions(0.0));
      opt_kind_ = kind;
      groups_ = groups;
      return info.Env().Undefined();
    });
  }

  void apply_hyper(const std::vector<std::array<double, 3>>& hyper) {
    auto& pgs = opt_->param_groups();
    for (size_t g = 0; g < pgs.size(); ++g) {
      auto [lr, mom, wd] = hyper[g];
      if (opt_kind_ == "sgd") {
        auto& o = static_cast<torch::optim::SGDOptions&>(pgs[g].options());
        o.lr(lr).momentum(mom).weight_decay(wd);
      } else if (opt_kind_ == "adamw") {
        auto& o = static_cast<torch::optim::AdamWOptions&>(pgs[g].options());
        o.lr(lr).betas({mom, std::get<1>(o.betas())}).weight_decay(wd);
      } else {
        auto& o = static_cast<torch::optim::AdamOptions&>(pgs[g].options());
        o.lr(lr).betas({mom, std::get<1>(o.betas())}).weight_decay(wd);
      }
    }
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      if (!opt_) throw std::runtime_error("configureOptimizer must be called before trainStep");
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(parse_input(req));
      int64_t n = in->pixels.size(0);
      // Segmenter (unet.cc): per-pixel 0/1 masks [N, H, W] instead of labels.
      torch::Tensor labels, masks;
      if (req.Get("masks").IsTypedArray()) {
        masks = tensor_from_typed(req.Get("masks"), torch::kByte, {n, in->pixels.size(1), in->pixels.size(2)}, "masks");
      } else {
        labels = tensor_from_typed(req.Get("labels"), torch::kInt, {n}, "labels").to(torch::kLong);
        if (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= num_classes())
          throw std::runtime_error("labels must be class indices in [0, " + std::to_string(num_classes()) + ")");
      }
      auto ha = req.Get("hyper").As<Napi::Array>();
      if (ha.Length() != groups_.size())
        throw std::runtime_error("trainStep got hyperparameters for " + std::to_string(ha.Length()) + " groups, the optimizer has " + std::to_string(groups_.size()));
      std::vector<std::array<double, 3>> hyper;
      for (uint32_t g = 0; g < ha.Length(); ++g) {
        auto h = ha.Get(g).As<Napi::Object>();
        std::array<double, 3> v{h.Get("lr").As<Napi::Number>().DoubleValue(), h.Get("momentum").As<Napi::Number>().DoubleValue(),
                                h.Get("weightDecay").As<Napi::Number>().DoubleValue()};
        if (!std::isfinite(v[0]) || v[0] < 0) throw std::runtime_error("learning rate of group " + std::to_string(g) + " must be finite and >= 0");
        hyper.push_back(v);
      }
      std::string precision = req.Get("precision").IsString() ? req.Get("precision").ToString().Utf8Value() : "fp32";
      check_precision(precision);
      double scale = req.Get("lossScale").IsNumber() ? req.Get("lossScale").As<Napi::Number>().DoubleValue() : 1.0;
      torch::Tensor cw;
      if (req.Get("classWeights").IsArray()) {
        auto a = req.Get("classWeights").As<Napi::Array>();
        if (int64_t(a.Length()) != num_classes()) throw std::runtime_error("classWeights needs one weight per class");
        std::vector<float> w;
        for (uint32_t i = 0; i < a.Length(); ++i) w.push_back(a.Get(i).As<Napi::Number>().FloatValue());
        cw = torch::tensor(w);
      }
      struct Out { double loss = 0; bool overflow = false; torch::Tensor probs; };
      auto out = std::make_shared<Out>();
      auto run = [this, in, labels, masks, hyper, precision, scale, cw, out]() {
        std::lock_guard<std::mutex> lk(mu_);
        set_mode(true);
        auto x = to_device_input(*in);
        torch::Tensor logits;
        {
          AutocastScope ac(device_.type(), precision == "bf16" ? torch::kBFloat16 : torch::kHalf, precision != "fp32");
          logits = net_->run(x);
        }
        auto lf = logits.to(torch::kFloat);
        torch::Tensor loss;
        if (masks.defined()) {  // segmenter: Dice + BCE; probs = per-image mean foreground probability
          loss = segmentation_loss(lf, masks);
          out->probs = torch::sigmoid(lf.detach()).mean({1, 2, 3}).cpu();
        } else {
          auto ce = torch::nn::functional::CrossEntropyFuncOptions();
          if (cw.defined()) ce.weight(cw.to(device_));
          loss = torch::nn::functional::cross_entropy(lf, labels.to(device_), ce);
          out->probs = torch::softmax(lf.detach(), 1).cpu();
        }
        out->loss = loss.item<double>();
        for (auto& e : entries_) if (e.is_param) e.t.mutable_grad() = torch::Tensor();
        bool finite = std::isfinite(out->loss);
        if (finite) (scale != 1.0 ? loss * scale : loss).backward();
        if (grad_sync_active()) {  // data parallel: every rank joins, also one whose loss overflowed
          std::vector<torch::Tensor> ps;
          for (auto& e : entries_) if (e.is_param && e.t.requires_grad()) ps.push_back(e.t);
          finite = sync_gradients(ps, finite);
        }
        if (!finite) {
          out->overflow = true;
          for (auto& e : entries_) if (e.is_param) e.t.mutable_grad() = torch::Tensor();
          return;
        }
        if (scale != 1.0) {
          // Unscale, and skip the step if any gradient overflowed (dynamic loss scaling).
          std::vector<torch::Tensor> grads;
          for (auto& e : entries_) if (e.is_param && e.t.mutable_grad().defined()) grads.push_back(e.t.mutable_grad());
          auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device_);
          auto found_inf = torch::zeros({1}, opts);
          if (device_.is_cuda()) {
            // One fused kernel over all gradients (what torch.cuda.amp.GradScaler uses).
            at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf, torch::full({1}, 1.0 / scale, opts));
          } else {
            for (auto& g : grads) {
              found_inf.add_(torch::isfinite(g).logical_not().any());
              g.div_(scale);
            }
          }
          if (found_inf.item<float>() > 0) {
            out->overflow = true;
            for (auto& e : entries_) if (e.is_param) e.t.mutable_grad() = torch::Tensor();
            return;
          }
        }
        apply_hyper(hyper);
        opt_->step();
      };
      auto done = [out](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("loss", out->loss);
        o.Set("overflow", out->overflow);
        o.Set("probs", float_array(env, out->probs));
        return o;
      };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  int64_t num_classes() const { return num_classes_; }

  void check_precision(const std::string& p) const {
    if (p == "fp32") return;
    if (p == "bf16") return;
    if (p == "fp16") {
      if (!device_.is_cuda()) throw std::runtime_error("precision fp16 needs a CUDA device; on CPU use bf16 or fp32");
      return;
    }
    throw std::runtime_error("unknown precision '" + p + "' (fp32, bf16, fp16)");
  }

  Napi::Value Predict(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(parse_input(req));
      std::string precision = req.Get("precision").IsString() ? req.Get("precision").ToString().Utf8Value() : "fp32";
      check_precision(precision);
      auto out = std::make_shared<torch::Tensor>();
      auto run = [this, in, precision, out]() {
        std::lock_guard<std::mutex> lk(mu_);
        c10::InferenceMode im;
        set_mode(false);
        auto x = to_device_input(*in);
        AutocastScope ac(device_.type(), precision == "bf16" ? torch::kBFloat16 : torch::kHalf, precision != "fp32");
        *out = net_->run(x).to(torch::kFloat).cpu();
      };
      auto done = [out](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("logits", float_array(env, *out));
        return o;
      };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  Napi::Value GradCam(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(parse_input(req));
      int64_t cls = req.Get("classIndex").As<Napi::Number>().Int64Value();
      if (cls < 0 || cls >= num_classes()) throw std::runtime_error("Grad-CAM class index out of range");
      std::string layer = req.Get("layer").IsString() ? req.Get("layer").ToString().Utf8Value() : net_->default_cam_layer;
      auto names = net_->block_names();
      if (std::find(names.begin(), names.end(), layer) == names.end())
        throw std::runtime_error("unknown Grad-CAM layer '" + layer + "'");
      struct Out { torch::Tensor cam, logits; };
      auto out = std::make_shared<Out>();
      auto run = [this, in, cls, layer, out]() {
        std::lock_guard<std::mutex> lk(mu_);
        torch::AutoGradMode ag(true);
        set_mode(false);
        auto x = to_device_input(*in);
        torch::Tensor act;
        auto logits = net_->run(x, layer, &act);
        auto score = logits.select(1, cls).sum();
        auto grad = torch::autograd::grad({score}, {act})[0];
        auto w = grad.mean({2, 3}, true);  // pooled gradients: one weight per channel
        out->cam = (w * act).sum(1).detach().cpu().contiguous();
        out->logits = logits.detach().cpu();
      };
      auto done = [out, layer](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("maps", float_array(env, out->cam));
        o.Set("shape", shape_array(env, out->cam.sizes()));
        o.Set("logits", float_array(env, out->logits));
        o.Set("layer", layer);
        return o;
      };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  // Global-average-pooled activations of one block (default: the Grad-CAM layer), [N, C],
  // with the logits of the same forward pass. Policy (what to do with them) stays in TS.
  Napi::Value Features(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(parse_input(req));
      std::string layer = req.Get("layer").IsString() ? req.Get("layer").ToString().Utf8Value() : net_->default_cam_layer;
      auto names = net_->block_names();
      if (std::find(names.begin(), names.end(), layer) == names.end())
        throw std::runtime_error("unknown feature layer '" + layer + "'");
      struct Out { torch::Tensor feats, logits; };
      auto out = std::make_shared<Out>();
      auto run = [this, in, layer, out]() {
        std::lock_guard<std::mutex> lk(mu_);
        torch::NoGradGuard ng;  // not InferenceMode: the tap sets requires_grad on its output
        set_mode(false);
        auto x = to_device_input(*in);
        torch::Tensor act;
        auto logits = net_->run(x, layer, &act);
        out->feats = act.to(torch::kFloat).mean({2, 3}).cpu().contiguous();
        out->logits = logits.to(torch::kFloat).cpu().contiguous();
      };
      auto done = [out, layer](Napi::Env env) -> Napi::Value {
        auto o = Napi::Object::New(env);
        o.Set("features", float_array(env, out->feats));
        o.Set("shape", shape_array(env, out->feats.sizes()));
        o.Set("logits", float_array(env, out->logits));
        o.Set("layer", layer);
        return o;
      };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  Napi::Value SetTrainable(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      auto idx = info[0].As<Napi::Array>();
      bool flag = info[1].ToBoolean();
      for (uint32_t k = 0; k < idx.Length(); ++k) {
        int i = idx.Get(k).As<Napi::Number>().Int32Value();
        if (i < 0 || size_t(i) >= entries_.size() || !entries_[i].is_param) throw std::runtime_error("setTrainable: index " + std::to_string(i) + " is not a parameter");
        entries_[i].t.requires_grad_(flag);
        if (!flag) entries_[i].t.mutable_grad() = torch::Tensor();
      }
      return info.Env().Undefined();
    });
  }

  Napi::Value SetBatchNormMode(const Napi::CallbackInfo& info) {
    return Sync(info, [&]() -> Napi::Value {
      std::string m = info[0].ToString();
      if (m != "train" && m != "eval" && m != "frozen") throw std::runtime_error("BatchNorm mode must be train, eval or frozen");
      bn_mode_ = m;
      return info.Env().Undefined();
    });
  }

  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto snap = std::make_shared<std::vector<std::pair<std::string, torch::Tensor>>>();
      auto run = [this, snap]() {
        std::lock_guard<std::mutex> lk(mu_);
        if (!opt_) return;
        auto& st = opt_->state();
        for (auto& e : entries_) {
          if (!e.is_param) continue;
          auto it = st.find(state_key(e.t));
          if (it == st.end()) continue;
          auto cpu = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU).contiguous().clone(); };
          if (auto* s = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
            if (s->momentum_buffer().defined()) snap->push_back({e.name + "::momentum_buffer", cpu(s->momentum_buffer())});
          } else if (auto* s = dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
            snap->push_back({e.name + "::step", torch::tensor({int64_t(s->step())})});
            snap->push_back({e.name + "::exp_avg", cpu(s->exp_avg())});
            snap->push_back({e.name + "::exp_avg_sq", cpu(s->exp_avg_sq())});
          } else if (auto* s = dynamic_cast<torch::optim::AdamParamState*>(it->second.get())) {
            snap->push_back({e.name + "::step", torch::tensor({int64_t(s->step())})});
            snap->push_back({e.name + "::exp_avg", cpu(s->exp_avg())});
            snap->push_back({e.name + "::exp_avg_sq", cpu(s->exp_avg_sq())});
          }
        }
      };
      auto done = [snap](Napi::Env env) -> Napi::Value { return tensors_to_js(env, *snap); };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      if (!opt_) throw std::runtime_error("configureOptimizer must be called before loading optimizer state");
      auto items = std::make_shared<std::vector<std::pair<std::string, torch::Tensor>>>(tensors_from_js(info[0]));
      auto run = [this, items]() {
        std::lock_guard<std::mutex> lk(mu_);
        std::unordered_map<std::string, std::unordered_map<std::string, torch::Tensor>> by_param;
        for (auto& kv : *items) {
          auto sep = kv.first.rfind("::");
          if (sep == std::string::npos) throw std::runtime_error("bad optimizer state name '" + kv.first + "'");
          by_param[kv.first.substr(0, sep)][kv.first.substr(sep + 2)] = kv.second;
        }
        auto& st = opt_->state();
        st.clear();
        for (auto& kv : by_param) {
          auto it = index_.find(kv.first);
          if (it == index_.end()) throw std::runtime_error("optimizer state for unknown parameter '" + kv.first + "'");
          auto& p = entries_[it->second].t;
          auto dev = [&](const std::string& k) {
            auto f = kv.second.find(k);
            if (f == kv.second.end()) throw std::runtime_error("optimizer state of '" + kv.first + "' lacks " + k);
            if (k != "step" && f->second.sizes() != p.sizes()) throw std::runtime_error("optimizer state shape mismatch for '" + kv.first + "'");
            return f->second.to(p.device(), p.scalar_type()).contiguous(p.suggest_memory_format());
          };
          if (opt_kind_ == "sgd") {
            auto s = std::make_unique<torch::optim::SGDParamState>();
            s->momentum_buffer(dev("momentum_buffer"));
            st[state_key(p)] = std::move(s);
          } else if (opt_kind_ == "adamw") {
            auto s = std::make_unique<torch::optim::AdamWParamState>();
            s->step(kv.second.at("step").item<int64_t>());
            s->exp_avg(dev("exp_avg"));
            s->exp_avg_sq(dev("exp_avg_sq"));
            st[state_key(p)] = std::move(s);
          } else {
            auto s = std::make_unique<torch::optim::AdamParamState>();
            s->step(kv.second.at("step").item<int64_t>());
            s->exp_avg(dev("exp_avg"));
            s->exp_avg_sq(dev("exp_avg_sq"));
            st[state_key(p)] = std::move(s);
          }
        }
      };
      auto done = [](Napi::Env env) -> Napi::Value { return env.Undefined(); };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }

  Napi::Value BnInputStats(const Napi::CallbackInfo& info) {
    return Async(info, [&]() {
      auto in = std::make_shared<HostInput>(parse_input(info[0].As<Napi::Object>()));
      auto obs = std::make_shared<BnObserver>();
      auto run = [this, in, obs]() {
        std::lock_guard<std::mutex> lk(mu_);
        c10::InferenceMode im;
        set_mode(false);
        auto x = to_device_input(*in);
        bn_observer() = obs.get();
        try {
          net_->run(x);
        } catch (...) {
          bn_observer() = nullptr;
          throw;
        }
        bn_observer() = nullptr;
      };
      auto done = [this, obs](Napi::Env env) -> Napi::Value {
        auto out = Napi::Array::New(env, obs->seen.size());
        for (size_t i = 0; i < obs->seen.size(); ++i) {
          auto o = Napi::Object::New(env);
          o.Set("name", bn_names_.at(obs->seen[i].first));
          o.Set("mean", float_array(env, obs->seen[i].second.first));
          o.Set("var", float_array(env, obs->seen[i].second.second));
          out[i] = o;
        }
        return out;
      };
      return std::make_pair(std::function<void()>(run), std::function<Napi::Value(Napi::Env)>(done));
    });
  }
};

Napi::Function InitModel(Napi::Env env) { return NativeModel::Init(env); }

}  // namespace cxr
