// MobileNetV2 (width 1.0) with torchvision's module names, shapes and numerics.
#include "common.h"

namespace cxr {
namespace {

int64_t make_divisible(double v, int64_t divisor = 8) {
  int64_t nv = std::max<int64_t>(divisor, int64_t(v + divisor / 2.0) / divisor * divisor);
  if (nv < 0.9 * v) nv += divisor;
  return nv;
}

// torchvision's Conv2dNormActivation: Sequential(conv "0", bn "1", ReLU6 "2").
struct ConvBNReLU : torch::nn::Module {
  torch::nn::Conv2d c{nullptr};
  torch::nn::BatchNorm2d b{nullptr};
  ConvBNReLU(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t groups = 1) {
    c = register_module("0", conv(in, out, k, stride, (k - 1) / 2, groups));
    b = register_module("1", batchnorm(out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return conv_bn_act(c, b, x, Act::Relu6); }
};

// conv = Sequential([ConvBNReLU expand (if t != 1)], ConvBNReLU depthwise, Conv2d project, BatchNorm2d).
struct Conv : torch::nn::Module {};

struct InvertedResidual : torch::nn::Module {
  std::shared_ptr<Conv> seq;
  std::shared_ptr<ConvBNReLU> expand, dw;
  torch::nn::Conv2d project{nullptr};
  torch::nn::BatchNorm2d project_bn{nullptr};
  bool use_res;
  InvertedResidual(int64_t in, int64_t out, int64_t stride, int64_t t) {
    int64_t hidden = in * t;
    use_res = stride == 1 && in == out;
    seq = register_module("conv", std::make_shared<Conv>());
    int idx = 0;
    if (t != 1) expand = seq->register_module(std::to_string(idx++), std::make_shared<ConvBNReLU>(in, hidden, 1, 1));
    dw = seq->register_module(std::to_string(idx++), std::make_shared<ConvBNReLU>(hidden, hidden, 3, stride, hidden));
    project = seq->register_module(std::to_string(idx++), conv(hidden, out, 1));
    project_bn = seq->register_module(std::to_string(idx++), batchnorm(out));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = dw->forward(expand ? expand->forward(x) : x);
    return conv_bn_act(project, project_bn, y, Act::None, use_res ? &x : nullptr);
  }
};

struct Features : torch::nn::Module {};
struct Classifier : torch::nn::Module {};

struct MobileNetV2 : Net {
  std::shared_ptr<Features> features;
  std::shared_ptr<Classifier> classifier;
  torch::nn::Linear fc{nullptr};
  double dropout;

  explicit MobileNetV2(const NetOptions& o) {
    const int64_t settings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2},
                                    {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
    int64_t in = make_divisible(32), last = make_divisible(1280);
    features = register_module("features", std::make_shared<Features>());
    int idx = 0;
    auto add = [&](std::shared_ptr<torch::nn::Module> m, std::function<torch::Tensor(const torch::Tensor&)> fn) {
      std::string name = std::to_string(idx++);
      features->register_module(name, m);
      blocks.push_back({"features." + name, fn});
    };
    auto first = std::make_shared<ConvBNReLU>(3, in, 3, 2);
    add(first, [first](const torch::Tensor& x) { return first->forward(x); });
    for (auto& s : settings) {
      int64_t out = make_divisible(s[1]);
      for (int64_t i = 0; i < s[2]; ++i) {
        auto blk = std::make_shared<InvertedResidual>(in, out, i == 0 ? s[3] : 1, s[0]);
        add(blk, [blk](const torch::Tensor& x) { return blk->forward(x); });
        in = out;
      }
    }
    auto lastc = std::make_shared<ConvBNReLU>(in, last, 1, 1);
    add(lastc, [lastc](const torch::Tensor& x) { return lastc->forward(x); });

    // classifier = Sequential(Dropout(0.2) "0", Linear "1").
    classifier = register_module("classifier", std::make_shared<Classifier>());
    fc = classifier->register_module("1", torch::nn::Linear(last, o.num_classes));
    dropout = o.dropout < 0 ? 0.2 : o.dropout;

    // torchvision's init: kaiming-normal (fan_out) convs with zero bias, BN 1/0, Linear N(0, 0.01), bias 0.
    torch::NoGradGuard ng;
    for (auto& m : modules(false)) {
      if (auto* c = m->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut);
        if (c->bias.defined()) c->bias.zero_();
      }
    }
    torch::nn::init::normal_(fc->weight, 0, 0.01);
    fc->bias.zero_();
  }

  torch::Tensor head(const torch::Tensor& f) override {
    auto x = torch::adaptive_avg_pool2d(f, {1, 1}).flatten(1);
    if (dropout > 0) x = torch::dropout(x, dropout, is_training());
    return fc(x);
  }
};

}  // namespace

std::shared_ptr<Net> make_mobilenet_v2(const NetOptions& o) { return std::make_shared<MobileNetV2>(o); }

}  // namespace cxr
