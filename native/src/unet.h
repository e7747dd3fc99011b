// Segmenter: a U-Net decoder (segmentation_models_pytorch's Unet layout) over a
// torchvision encoder, and its loss. Names: encoder.<torchvision names>,
// decoder.blocks.N.conv{1,2}.{0,1}.*, segmentation_head.0.* — smp's state_dict names.
#pragma once
#include "common.h"

namespace cxr {

// arch "unet_mobilenet_v2", "unet_resnet18" or "unet_resnet34"; decoder_channels from the head (deepest) to full
// resolution.
// Returns nullptr for an unknown encoder. Output: [N, classes, H, W] logits (H, W % 32 == 0).
std::shared_ptr<Net> make_unet(const std::string& arch, const NetOptions& o,
                               const std::vector<int64_t>& decoder_channels);

// bce_weight × BCE-with-logits (mean over pixels) + dice_weight × soft Dice loss over the
// whole batch (smooth 1). logits [N, 1, H, W] float, masks [N, H, W] of 0/1 (any dtype).
torch::Tensor segmentation_loss(const torch::Tensor& logits, const torch::Tensor& masks, double dice_weight,
                                double bce_weight);

}  // namespace cxr
