// ResNet-18/34/50/101/152 with torchvision's module names, shapes and numerics
// (v1.5: the stride sits on the 3x3 conv of the bottleneck; stride_in_1x1 gives v1, whose
// stride sits on the first 1x1 conv, as Keras' and Caffe's ResNet-50 — same names and shapes).
#include "common.h"

namespace cxr {
namespace {

// A block takes its input by value: the layer hands it over (std::move), so in an eval call the
// identity is the only reference left to it and the fused residual convolution accumulates into
// its buffer instead of a copy (onednn_conv.h).
struct ResBlock : torch::nn::Module {
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};

// torchvision: downsample = Sequential(conv1x1(stride), BatchNorm2d) -> names "0", "1".
struct Downsample : torch::nn::Module {
  torch::nn::Conv2d c{nullptr};
  torch::nn::BatchNorm2d b{nullptr};
  Downsample(int64_t in, int64_t out, int64_t stride) {
    c = register_module("0", conv(in, out, 1, stride));
    b = register_module("1", batchnorm(out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return conv_bn(c, b, x); }
};

struct BasicBlock : ResBlock {
  static constexpr int64_t expansion = 1;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  std::shared_ptr<Downsample> downsample;
  BasicBlock(int64_t in, int64_t planes, int64_t stride, bool /*stride_in_1x1*/) {
    conv1 = register_module("conv1", conv(in, planes, 3, stride, 1));
    bn1 = register_module("bn1", batchnorm(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, 1, 1));
    bn2 = register_module("bn2", batchnorm(planes));
    if (stride != 1 || in != planes * expansion)
      downsample = register_module("downsample", std::make_shared<Downsample>(in, planes * expansion, stride));
  }
  torch::Tensor forward(torch::Tensor x) override {
    // relu(bn2(conv2(·)) + identity): in place where torchvision is (out += identity,
    // ReLU(inplace=True)), fused into the convolution in an eval call.
    auto out = conv_bn_relu(conv1, bn1, x);
    auto identity = downsample ? downsample->forward(x) : std::move(x);
    return conv_bn_act(conv2, bn2, out, Act::Relu, &identity);
  }
};

struct Bottleneck : ResBlock {
  static constexpr int64_t expansion = 4;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  std::shared_ptr<Downsample> downsample;
  Bottleneck(int64_t in, int64_t planes, int64_t stride, bool stride_in_1x1) {
    conv1 = register_module("conv1", conv(in, planes, 1, stride_in_1x1 ? stride : 1));
    bn1 = register_module("bn1", batchnorm(planes));
    conv2 = register_module("conv2", conv(planes, planes, 3, stride_in_1x1 ? 1 : stride, 1));
    bn2 = register_module("bn2", batchnorm(planes));
    conv3 = register_module("conv3", conv(planes, planes * expansion, 1));
    bn3 = register_module("bn3", batchnorm(planes * expansion));
    if (stride != 1 || in != planes * expansion)
      downsample = register_module("downsample", std::make_shared<Downsample>(in, planes * expansion, stride));
  }
  torch::Tensor forward(torch::Tensor x) override {
    auto out = conv_bn_relu(conv2, bn2, conv_bn_relu(conv1, bn1, x));
    auto identity = downsample ? downsample->forward(x) : std::move(x);
    return conv_bn_act(conv3, bn3, out, Act::Relu, &identity);
  }
};

struct Layer : torch::nn::Module {
  std::vector<std::shared_ptr<ResBlock>> blocks;
  torch::Tensor forward(torch::Tensor x) {
    for (auto& b : blocks) x = b->forward(std::move(x));
    return x;
  }
};

struct ResNet : Net {
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<std::shared_ptr<Layer>> layers;
  torch::nn::Linear fc{nullptr};
  double dropout;

  template <typename B>
  void build(const std::vector<int64_t>& counts, const NetOptions& o) {
    int64_t inplanes = 64;
    conv1 = register_module("conv1", conv(3, 64, 7, 2, 3));
    bn1 = register_module("bn1", batchnorm(64));
    const int64_t planes[4] = {64, 128, 256, 512};
    for (int i = 0; i < 4; ++i) {
      auto layer = std::make_shared<Layer>();
      for (int64_t j = 0; j < counts[i]; ++j) {
        auto blk = std::make_shared<B>(inplanes, planes[i], (j == 0 && i > 0) ? 2 : 1, o.stride_in_1x1);
        inplanes = planes[i] * B::expansion;
        layer->register_module(std::to_string(j), blk);
        layer->blocks.push_back(blk);
      }
      layers.push_back(register_module("layer" + std::to_string(i + 1), layer));
    }
    fc = register_module("fc", torch::nn::Linear(512 * B::expansion, o.num_classes));
    dropout = o.dropout < 0 ? 0.0 : o.dropout;

    // torchvision's init: kaiming-normal (fan_out, relu) convs, BN weight 1 bias 0.
    torch::NoGradGuard ng;
    for (auto& m : modules(false)) {
      if (auto* c = m->as<torch::nn::Conv2d>())
        torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
    }

    blocks.push_back({"maxpool", [this](const torch::Tensor& x) {
                        return cxr::max_pool2d(conv_bn_relu(conv1, bn1, x), 3, 2, 1);
                      }});
    for (int i = 0; i < 4; ++i) {
      auto layer = layers[i];
      blocks.push_back(
          {"layer" + std::to_string(i + 1), [layer](const torch::Tensor& x) { return layer->forward(x); }});
    }
  }

  torch::Tensor head(const torch::Tensor& f) override {
    auto x = torch::adaptive_avg_pool2d(f, {1, 1}).flatten(1);
    if (dropout > 0) x = torch::dropout(x, dropout, is_training());
    return fc(x);
  }
};

}  // namespace

std::shared_ptr<Net> make_resnet(const std::string& arch, const NetOptions& o) {
  auto net = std::make_shared<ResNet>();
  if (arch == "resnet18") net->build<BasicBlock>({2, 2, 2, 2}, o);
  else if (arch == "resnet34") net->build<BasicBlock>({3, 4, 6, 3}, o);
  else if (arch == "resnet50") net->build<Bottleneck>({3, 4, 6, 3}, o);
  else if (arch == "resnet101") net->build<Bottleneck>({3, 4, 23, 3}, o);
  else if (arch == "resnet152") net->build<Bottleneck>({3, 8, 36, 3}, o);
  else return nullptr;
  return net;
}

}  // namespace cxr
