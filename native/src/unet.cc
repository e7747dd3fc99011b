// U-Net over a torchvision encoder, laid out as segmentation_models_pytorch's Unet so its
// state_dict names are smp's: the encoder keeps torchvision's names under "encoder."
// (its classifier removed), then decoder.blocks.N and segmentation_head.0.
#include "unet.h"

namespace cxr {
namespace {

// smp's Conv2dReLU with batchnorm: Sequential(Conv2d(bias=False) "0", BatchNorm2d "1", ReLU "2").
struct Conv2dReLU : torch::nn::Module {
  torch::nn::Conv2d c{nullptr};
  torch::nn::BatchNorm2d b{nullptr};
  Conv2dReLU(int64_t in, int64_t out) {
    c = register_module("0", conv(in, out, 3, 1, 1));
    b = register_module("1", batchnorm(out));
  }
  torch::Tensor forward(const torch::Tensor& x) { return bn(b, conv2d(c, x)).relu_(); }
};

// Upsample x2 (nearest), concatenate the skip, two 3x3 Conv-BN-ReLU.
struct DecoderBlock : torch::nn::Module {
  std::shared_ptr<Conv2dReLU> conv1, conv2;
  DecoderBlock(int64_t in, int64_t skip, int64_t out) {
    conv1 = register_module("conv1", std::make_shared<Conv2dReLU>(in + skip, out));
    conv2 = register_module("conv2", std::make_shared<Conv2dReLU>(out, out));
  }
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& skip) {
    x = torch::upsample_nearest2d(x, {x.size(2) * 2, x.size(3) * 2});
    if (skip.defined()) x = torch::cat({x, skip.to(x.scalar_type())}, 1);
    return conv2->forward(conv1->forward(x));
  }
};

struct Blocks : torch::nn::Module {};
struct Decoder : torch::nn::Module {
  std::shared_ptr<Blocks> list;
  std::vector<std::shared_ptr<DecoderBlock>> blocks;
};
struct Head : torch::nn::Module {};

struct UNet : Net {
  std::shared_ptr<Net> encoder;
  std::shared_ptr<Decoder> decoder;
  std::shared_ptr<Head> seg_head;
  torch::nn::Conv2d head_conv{nullptr};
  std::vector<size_t> skip_at;       // encoder block indices whose outputs are skips (shallow first)
  std::vector<torch::Tensor> feats;  // this forward's skips; calls on one model are serialised

  // enc_blocks: the encoder's forward as named steps (default: the encoder's own blocks).
  UNet(std::shared_ptr<Net> enc, const std::vector<int64_t>& enc_channels, std::vector<size_t> skips,
       const std::vector<int64_t>& dec, int64_t classes, std::vector<Block> enc_blocks = {})
      : encoder(std::move(enc)), skip_at(std::move(skips)) {
    TORCH_CHECK(dec.size() == 5, "a U-Net decoder needs 5 channel counts (got ", dec.size(), ")");
    for (auto c : dec) TORCH_CHECK(c > 0, "decoder channels must be positive");
    register_module("encoder", encoder);
    if (enc_blocks.empty()) enc_blocks = encoder->blocks;
    for (size_t i = 0; i < enc_blocks.size(); ++i) {
      auto fn = enc_blocks[i].second;
      bool keep = std::find(skip_at.begin(), skip_at.end(), i) != skip_at.end();
      blocks.push_back({"encoder." + enc_blocks[i].first, [this, fn, keep, i](const torch::Tensor& x) {
                          if (i == 0) feats.clear();
                          auto y = fn(x);
                          if (keep) feats.push_back(y);
                          return y;
                        }});
    }
    // enc_channels: deepest first (head, then skips deep to shallow), as smp's reversed features.
    decoder = register_module("decoder", std::make_shared<Decoder>());
    decoder->list = decoder->register_module("blocks", std::make_shared<Blocks>());
    for (size_t i = 0; i < 5; ++i) {
      int64_t in = i == 0 ? enc_channels[0] : dec[i - 1];
      int64_t skip = i + 1 < enc_channels.size() ? enc_channels[i + 1] : 0;
      auto b = std::make_shared<DecoderBlock>(in, skip, dec[i]);
      decoder->list->register_module(std::to_string(i), b);
      decoder->blocks.push_back(b);
    }
    seg_head = register_module("segmentation_head", std::make_shared<Head>());
    head_conv =
        seg_head->register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(dec[4], classes, 3).padding(1)));

    // smp's init: decoder convs kaiming-uniform (fan_in, relu), BN 1/0; head xavier-uniform, bias 0.
    torch::NoGradGuard ng;
    for (auto& m : decoder->modules(false))
      if (auto* c = m->as<torch::nn::Conv2d>())
        torch::nn::init::kaiming_uniform_(c->weight, 0.0, torch::kFanIn, torch::kReLU);
    torch::nn::init::xavier_uniform_(head_conv->weight);
    head_conv->bias.zero_();
  }

  torch::Tensor head(const torch::Tensor& f) override {
    TORCH_CHECK(feats.size() == skip_at.size(), "segmenter: encoder skips missing");
    auto x = f;
    for (size_t i = 0; i < decoder->blocks.size(); ++i) {
      torch::Tensor skip = i < feats.size() ? feats[feats.size() - 1 - i] : torch::Tensor();
      if (skip.defined())
        TORCH_CHECK(skip.size(2) == x.size(2) * 2 && skip.size(3) == x.size(3) * 2,
                    "segmenter input height and width must be multiples of 32");
      x = decoder->blocks[i]->forward(x, skip);
    }
    feats.clear();
    return conv2d(head_conv, x);
  }
};

}  // namespace

std::shared_ptr<Net> make_unet(const std::string& arch, const NetOptions& o, const std::vector<int64_t>& dec) {
  if (arch == "unet_mobilenet_v2") {
    NetOptions eo;
    eo.num_classes = 1;  // the classifier is built, then dropped (smp deletes it too)
    auto enc = make_mobilenet_v2(eo);
    enc->unregister_module("classifier");
    // smp's stages: features[:2] /2 16ch, [2:4] /4 24, [4:7] /8 32, [7:14] /16 96, [14:] /32 1280.
    return std::make_shared<UNet>(enc, std::vector<int64_t>{1280, 96, 32, 24, 16}, std::vector<size_t>{1, 3, 6, 13},
                                  dec, o.num_classes);
  }
  if (arch == "unet_resnet18" || arch == "unet_resnet34") {
    NetOptions eo;
    eo.num_classes = 1;
    auto enc = make_resnet(arch.substr(5), eo);
    enc->unregister_module("fc");
    // smp's stages: relu(bn1(conv1)) /2 64ch, maxpool + layer1 /4 64, layer2 /8 128, layer3 /16 256, layer4 /32 512.
    // The classifier's "maxpool" block joins the stem and the pool; here the stem is its own step.
    auto c1 = enc->named_children()["conv1"]->as<torch::nn::Conv2d>();
    auto b1 = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(enc->named_children()["bn1"]);
    torch::nn::BatchNorm2d bn1(b1);
    std::vector<Net::Block> steps;
    steps.push_back({"conv1", [c1, bn1](const torch::Tensor& x) mutable { return bn(bn1, conv2d(*c1, x)).relu_(); }});
    auto layer1 = enc->blocks[1].second;
    steps.push_back({"layer1", [layer1](const torch::Tensor& x) { return layer1(torch::max_pool2d(x, 3, 2, 1)); }});
    for (size_t i = 2; i < enc->blocks.size(); ++i) steps.push_back(enc->blocks[i]);
    return std::make_shared<UNet>(enc, std::vector<int64_t>{512, 256, 128, 64, 64}, std::vector<size_t>{0, 1, 2, 3},
                                  dec, o.num_classes, steps);
  }
  return nullptr;
}

torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& masks, double dice_weight,
                                double bce_weight) {
  TORCH_CHECK(logits.dim() == 4 && logits.size(1) == 1, "segmentation loss needs [N, 1, H, W] logits");
  auto y = masks.to(logits.device(), torch::kFloat).view_as(logits);
  auto bce = torch::binary_cross_entropy_with_logits(logits, y);
  auto p = torch::sigmoid(logits);
  auto dice = (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1);
  // A weight of 1 multiplies exactly, so weights 1/1 give the unweighted sum's bits.
  return bce * bce_weight + (1 - dice) * dice_weight;
}

}  // namespace cxr
