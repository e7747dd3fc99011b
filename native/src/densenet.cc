// DenseNet-121/161/169/201 with torchvision's module names, shapes and numerics.
#include "common.h"

namespace cxr {
namespace {

struct DenseLayer : torch::nn::Module {
  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  DenseLayer(int64_t in, int64_t growth, int64_t bn_size) {
    norm1 = register_module("norm1", batchnorm(in));
    conv1 = register_module("conv1", conv(in, bn_size * growth, 1));
    norm2 = register_module("norm2", batchnorm(bn_size * growth));
    conv2 = register_module("conv2", conv(bn_size * growth, growth, 3, 1, 1));
  }
  torch::Tensor forward(const std::vector<torch::Tensor>& inputs) { return forward(torch::cat(inputs, 1)); }
  torch::Tensor forward(const torch::Tensor& x) {
    auto b = conv_bn_relu(conv1, norm2, norm_relu(x));
    return conv2d(conv2, b);
  }
  // norm1 and its ReLU. In an eval call without autograd, as an affine map: x is then a view of
  // the block's buffer (DenseBlock), which BatchNorm's kernel would first copy.
  torch::Tensor norm_relu(const torch::Tensor& x) {
    auto use = eval_weights();
    if (!use.weights || norm1->is_training() || torch::GradMode::is_enabled() || bn_observer() ||
        x.scalar_type() != torch::kFloat || !norm1->options.track_running_stats())
      return bn(norm1, x).relu_();
    auto a = use.weights->affine(*norm1);
    return at::addcmul(a.second, x, a.first).relu_();
  }
};

struct DenseBlock : torch::nn::Module {
  std::vector<std::shared_ptr<DenseLayer>> layers;
  DenseBlock(int64_t n, int64_t in, int64_t growth, int64_t bn_size) {
    for (int64_t i = 0; i < n; ++i)
      layers.push_back(register_module("denselayer" + std::to_string(i + 1),
                                       std::make_shared<DenseLayer>(in + i * growth, growth, bn_size)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    if (is_training() || torch::GradMode::is_enabled()) {
      std::vector<torch::Tensor> feats{x};
      for (auto& l : layers) feats.push_back(l->forward(feats));
      return torch::cat(feats, 1);
    }
    // Eval without autograd: one buffer holds the block's features and each layer reads the
    // channels before its own, a view; each output is copied in once instead of the whole
    // concatenation being rebuilt for every layer (copies linear in depth, not quadratic).
    const int64_t growth = layers.front()->conv2->options.out_channels();
    auto sizes = x.sizes().vec();
    const int64_t c0 = sizes[1];
    sizes[1] = c0 + growth * int64_t(layers.size());
    auto buf = torch::empty(sizes, x.options().memory_format(x.suggest_memory_format()));
    buf.narrow(1, 0, c0).copy_(x);
    int64_t c = c0;
    for (auto& l : layers) {
      buf.narrow(1, c, growth).copy_(l->forward(buf.narrow(1, 0, c)));
      c += growth;
    }
    return buf;
  }
};

struct Transition : torch::nn::Module {
  torch::nn::BatchNorm2d norm{nullptr};
  torch::nn::Conv2d c{nullptr};
  Transition(int64_t in, int64_t out) {
    norm = register_module("norm", batchnorm(in));
    c = register_module("conv", conv(in, out, 1));
  }
  torch::Tensor forward(const torch::Tensor& x) { return torch::avg_pool2d(conv2d(c, (bn(norm, x)).relu_()), 2, 2); }
};

struct Features : torch::nn::Module {
  torch::nn::Conv2d conv0{nullptr};
  torch::nn::BatchNorm2d norm0{nullptr}, norm5{nullptr};
  std::vector<std::shared_ptr<DenseBlock>> dense;
  std::vector<std::shared_ptr<Transition>> trans;
};

struct DenseNet : Net {
  std::shared_ptr<Features> features;
  torch::nn::Linear classifier{nullptr};
  double dropout = 0;

  DenseNet(int64_t growth, std::vector<int64_t> config, int64_t init, const NetOptions& o) {
    const int64_t bn_size = 4;
    features = register_module("features", std::make_shared<Features>());
    auto& f = *features;
    f.conv0 = f.register_module("conv0", conv(3, init, 7, 2, 3));
    f.norm0 = f.register_module("norm0", batchnorm(init));
    int64_t nf = init;
    for (size_t i = 0; i < config.size(); ++i) {
      auto blk = std::make_shared<DenseBlock>(config[i], nf, growth, bn_size);
      f.dense.push_back(f.register_module("denseblock" + std::to_string(i + 1), blk));
      nf += config[i] * growth;
      if (i + 1 != config.size()) {
        auto name = "transition" + std::to_string(i + 1);
        f.trans.push_back(f.register_module(name, std::make_shared<Transition>(nf, nf / 2)));
        nf /= 2;
      }
    }
    f.norm5 = f.register_module("norm5", batchnorm(nf));
    classifier = register_module("classifier", torch::nn::Linear(nf, o.num_classes));
    dropout = o.dropout < 0 ? 0.0 : o.dropout;

    // torchvision's init: kaiming-normal (fan_in) convs, BN 1/0, classifier bias 0.
    torch::NoGradGuard ng;
    for (auto& m : modules(false))
      if (auto* c = m->as<torch::nn::Conv2d>()) torch::nn::init::kaiming_normal_(c->weight);
    classifier->bias.zero_();

    auto F = features;
    blocks.push_back({"features.pool0", [F](const torch::Tensor& x) {
                        return cxr::max_pool2d(conv_bn_relu(F->conv0, F->norm0, x), 3, 2, 1);
                      }});
    for (size_t i = 0; i < F->dense.size(); ++i) {
      auto d = F->dense[i];
      blocks.push_back(
          {"features.denseblock" + std::to_string(i + 1), [d](const torch::Tensor& x) { return d->forward(x); }});
      if (i < F->trans.size()) {
        auto t = F->trans[i];
        blocks.push_back(
            {"features.transition" + std::to_string(i + 1), [t](const torch::Tensor& x) { return t->forward(x); }});
      }
    }
    blocks.push_back({"features.norm5", [F](const torch::Tensor& x) { return bn(F->norm5, x); }});
  }

  torch::Tensor head(const torch::Tensor& f) override {
    auto x = torch::adaptive_avg_pool2d(torch::relu(f), {1, 1}).flatten(1);
    if (dropout > 0) x = torch::dropout(x, dropout, is_training());
    return classifier(x);
  }
};

}  // namespace

std::shared_ptr<Net> make_densenet(const std::string& arch, const NetOptions& o) {
  if (arch == "densenet121") return std::make_shared<DenseNet>(32, std::vector<int64_t>{6, 12, 24, 16}, 64, o);
  if (arch == "densenet161") return std::make_shared<DenseNet>(48, std::vector<int64_t>{6, 12, 36, 24}, 96, o);
  if (arch == "densenet169") return std::make_shared<DenseNet>(32, std::vector<int64_t>{6, 12, 32, 32}, 64, o);
  if (arch == "densenet201") return std::make_shared<DenseNet>(32, std::vector<int64_t>{6, 12, 48, 32}, 64, o);
  return nullptr;
}

}  // namespace cxr
