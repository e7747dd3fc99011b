// The NativeModel object TypeScript holds: one network (core.h) driven by coarse calls.
// Heavy calls are tasks (task.h) that run one at a time on the compute thread. The
// synchronous calls (entries, modules, blocks, setTrainable, setBatchNormMode,
// configureOptimizer) never touch the network: they read metadata fixed at construction
// and change `settings_`, a value each task copies when it is queued and applies when it
// runs. They used to take the task lock, and one made during a step waited for the whole
// step with the event loop stopped (measured: entries() and setTrainable() 3.3 s during
// a resnet18 step of 16 × 224² images; now 0.2 ms). A change made while a step
// runs applies from the next call on, which is also when the lock used to let it in.
// No policy here: every default (normalisation, class weights, Grad-CAM layer, optimizer
// β2 and ε) is TypeScript's, and TypeScript validates requests; requests.cc reads them,
// keeping the checks that protect memory (byte lengths, indices).
#include <napi.h>
#include <mutex>
#include "requests.h"
#include "task.h"

namespace cxr {

namespace {

struct EntryInfo {
  std::string name;
  std::vector<int64_t> shape;
  bool is_param;
};

struct ModuleInfo {
  std::string name;
  const char* kind;
  std::vector<int> params;  // entry positions
};

const char* module_kind(const torch::nn::Module& m) {
  if (m.as<torch::nn::Conv2d>()) return "conv";
  if (m.as<torch::nn::BatchNorm2d>()) return "bn";
  if (m.as<torch::nn::Linear>()) return "linear";
  return "other";
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
                        InstanceMethod("layerGradients", &NativeModel::LayerGradients),
                        InstanceMethod("features", &NativeModel::Features),
                        InstanceMethod("setTrainable", &NativeModel::SetTrainable),
                        InstanceMethod("setBatchNormMode", &NativeModel::SetBatchNormMode),
                        InstanceMethod("getOptimizerState", &NativeModel::GetOptimizerState),
                        InstanceMethod("setOptimizerState", &NativeModel::SetOptimizerState),
                        InstanceMethod("bnInputStats", &NativeModel::BnInputStats)});
  }

  explicit NativeModel(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeModel>(info) {
    try {
      on_js_thread(info.Env(), [&]() -> Napi::Value {
        auto spec = core_spec_from_js(info[0]);
        num_classes_ = spec.net.num_classes;
        // Built (weights initialised) on the compute thread: see run_on_compute_thread.
        run_on_compute_thread([&] {
          core_ = std::make_unique<Core>(spec);
          describe(*core_);
        });
        return info.Env().Undefined();
      });
    } catch (const Napi::Error& e) {
      e.ThrowAsJavaScriptException();
    }
  }

 private:
  // Compute side: touched only by tasks, under core_mu_.
  std::unique_ptr<Core> core_;
  std::mutex core_mu_;
  // JS-thread side: fixed at construction, or set by the synchronous calls.
  std::vector<EntryInfo> entries_;
  std::vector<ModuleInfo> modules_;
  std::vector<std::string> blocks_;
  int64_t num_classes_ = 0;
  Settings settings_;

  // Copies what the synchronous calls read out of the freshly built network.
  void describe(Core& core) {
    for (auto& e : core.params->entries) {
      entries_.push_back({e.name, e.t.sizes().vec(), e.is_param});
      settings_.trainable.push_back(e.is_param);
    }
    for (auto& item : core.net->named_modules()) {
      auto own = item.value()->named_parameters(false);
      if (own.is_empty()) continue;
      ModuleInfo m{item.key(), module_kind(*item.value()), {}};
      for (auto& p : own) m.params.push_back(core.params->index.at(item.key() + "." + p.key()));
      modules_.push_back(std::move(m));
    }
    blocks_ = core.net->block_names();
  }

  // Queues run(core) behind the tasks before it, with the settings as they are now.
  Napi::Value queue(const Napi::CallbackInfo& info, std::function<void(Core&)> run, Done done = nullptr) {
    return run_async(info.Env(), info.This(), [this, settings = settings_, run = std::move(run)] {
      std::lock_guard<std::mutex> lk(core_mu_);
      core_->apply(settings);
      run(*core_);
    }, std::move(done));
  }

  template <typename F>
  Napi::Value js(const Napi::CallbackInfo& info, F&& f) { return on_js_thread(info.Env(), std::forward<F>(f)); }

  Napi::Value Entries(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto out = Napi::Array::New(env, entries_.size());
    for (size_t i = 0; i < entries_.size(); ++i) {
      auto o = Napi::Object::New(env);
      o.Set("name", entries_[i].name);
      o.Set("shape", shape_array(env, entries_[i].shape));
      o.Set("kind", entries_[i].is_param ? "param" : "buffer");
      o.Set("trainable", bool(settings_.trainable[i]));
      out[i] = o;
    }
    return out;
  }

  // Modules that own parameters directly, in registration (input → output) order.
  Napi::Value Modules(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto out = Napi::Array::New(env, modules_.size());
    for (size_t i = 0; i < modules_.size(); ++i) {
      auto o = Napi::Object::New(env);
      o.Set("name", modules_[i].name);
      o.Set("kind", modules_[i].kind);
      auto idx = Napi::Array::New(env, modules_[i].params.size());
      for (size_t k = 0; k < modules_[i].params.size(); ++k) idx[k] = Napi::Number::New(env, modules_[i].params[k]);
      o.Set("params", idx);
      out[i] = o;
    }
    return out;
  }

  Napi::Value Blocks(const Napi::CallbackInfo& info) {
    auto env = info.Env();
    auto out = Napi::Object::New(env);
    auto arr = Napi::Array::New(env, blocks_.size());
    for (size_t i = 0; i < blocks_.size(); ++i) arr[i] = blocks_[i];
    out.Set("blocks", arr);
    return out;
  }

  Napi::Value SetTrainable(const Napi::CallbackInfo& info) {
    return js(info, [&]() -> Napi::Value {
      auto idx = indices_from_js(info[0], entries_.size(), "setTrainable");
      bool flag = info[1].ToBoolean();
      for (int i : idx) {
        if (!entries_[i].is_param)
          throw std::runtime_error("setTrainable: '" + entries_[i].name + "' is not a parameter");
        settings_.trainable[i] = flag;
      }
      return info.Env().Undefined();
    });
  }

  Napi::Value SetBatchNormMode(const Napi::CallbackInfo& info) {
    return js(info, [&]() -> Napi::Value {
      settings_.bn_mode = bn_mode(string_from_js(info[0], "BatchNorm mode"));
      return info.Env().Undefined();
    });
  }

  // { kind, groups: entry positions per group, nesterov, beta2, eps }
  Napi::Value ConfigureOptimizer(const Napi::CallbackInfo& info) {
    return js(info, [&]() -> Napi::Value {
      auto cfg = info[0].As<Napi::Object>();
      auto spec = std::make_shared<OptimizerSpec>();
      spec->kind = optimizer_kind(string_from_js(cfg.Get("kind"), "optimizer kind"));
      spec->nesterov = cfg.Get("nesterov").ToBoolean();
      spec->beta2 = number_from_js(cfg.Get("beta2"), "beta2");
      spec->eps = number_from_js(cfg.Get("eps"), "eps");
      auto groups = cfg.Get("groups").As<Napi::Array>();
      for (uint32_t g = 0; g < groups.Length(); ++g) {
        spec->groups.push_back(indices_from_js(groups.Get(g), entries_.size(), "optimizer group " + std::to_string(g)));
        for (int i : spec->groups.back())
          if (!entries_[i].is_param)
            throw std::runtime_error("optimizer group " + std::to_string(g) + ": '" + entries_[i].name +
                                     "' is not a parameter");
      }
      settings_.optimizer = spec;
      return info.Env().Undefined();
    });
  }

  Napi::Value GetState(const Napi::CallbackInfo& info) {
    auto snap = std::make_shared<NamedTensors>();
    return queue(info, [snap](Core& m) {
      torch::NoGradGuard ng;
      for (auto& e : m.params->entries) snap->push_back({e.name, e.t.detach().to(torch::kCPU).contiguous().clone()});
    }, [snap](Napi::Env env) { return tensors_to_js(env, *snap); });
  }

  Napi::Value SetState(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto items = std::make_shared<NamedTensors>(tensors_from_js(info[0]));
      return queue(info, [items](Core& m) {
        torch::NoGradGuard ng;
        for (auto& kv : *items) m.params->at(kv.first, "state").t.copy_(kv.second);
      });
    });
  }

  Napi::Value TrainStep(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      if (!settings_.optimizer) throw std::runtime_error("configureOptimizer must be called before trainStep");
      const size_t groups = settings_.optimizer->groups.size();
      auto r = std::make_shared<TrainRequest>(train_request_from_js(info[0], num_classes_, groups));
      auto out = std::make_shared<TrainResult>();
      return queue(info, [r, out](Core& m) { *out = train_step(m, *r); },
                   [out](Napi::Env env) { return train_result_to_js(env, *out); });
    });
  }

  // { pixels, shape, mean, std, precision } → { logits }
  Napi::Value Predict(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(input_from_js(req));
      auto p = precision(string_from_js(req.Get("precision"), "precision"));
      auto out = std::make_shared<torch::Tensor>();
      return queue(
          info, [in, p, out](Core& m) { *out = predict_logits(m, *in, p); },
          [out](Napi::Env env) -> Napi::Value {
            auto o = Napi::Object::New(env);
            o.Set("logits", float_array(env, *out));
            return o;
          });
    });
  }

  // { pixels, shape, mean, std, classIndex, layer } → { activations, gradients, shape: [N, C, h, w], logits, layer }
  Napi::Value LayerGradients(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(input_from_js(req));
      int64_t cls = class_index_from_js(req.Get("classIndex"), num_classes_);
      auto layer = string_from_js(req.Get("layer"), "layer");
      auto out = std::make_shared<cxr::LayerGradients>();
      return queue(info, [in, cls, layer, out](Core& m) { *out = layer_gradients(m, *in, cls, layer); },
                   [out, layer](Napi::Env env) { return layer_gradients_to_js(env, *out, layer); });
    });
  }

  // { pixels, shape, mean, std, layer } → { features: [N, C], shape, logits, layer }
  Napi::Value Features(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto req = info[0].As<Napi::Object>();
      auto in = std::make_shared<HostInput>(input_from_js(req));
      auto layer = string_from_js(req.Get("layer"), "layer");
      auto out = std::make_shared<PooledFeatures>();
      return queue(info, [in, layer, out](Core& m) { *out = pooled_features(m, *in, layer); },
                   [out, layer](Napi::Env env) { return pooled_features_to_js(env, *out, layer); });
    });
  }

  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    auto snap = std::make_shared<NamedTensors>();
    return queue(info, [snap](Core& m) {
      if (m.has_optimizer()) *snap = m.optimizer().state(*m.params);
    }, [snap](Napi::Env env) { return tensors_to_js(env, *snap); });
  }

  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto items = std::make_shared<NamedTensors>(tensors_from_js(info[0]));
      return queue(info, [items](Core& m) { m.optimizer().load_state(*items, *m.params); });
    });
  }

  // { pixels, shape, mean, std } → [{ name, mean, var }]
  Napi::Value BnInputStats(const Napi::CallbackInfo& info) {
    return js(info, [&] {
      auto in = std::make_shared<HostInput>(input_from_js(info[0].As<Napi::Object>()));
      auto out = std::make_shared<std::vector<cxr::BnInputStats>>();
      return queue(info, [in, out](Core& m) { *out = bn_input_stats(m, *in); },
                   [out](Napi::Env env) { return bn_stats_to_js(env, *out); });
    });
  }
};

Napi::Function InitModel(Napi::Env env) { return NativeModel::Init(env); }

}  // namespace cxr
