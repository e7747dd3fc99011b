// The one place the addon maps an architecture name to its family file.
#include "common.h"
#include "unet.h"

namespace cxr {

std::shared_ptr<Net> make_net(const std::string& arch, const NetOptions& o) {
  std::shared_ptr<Net> net;
  if (arch.rfind("resnet", 0) == 0) net = make_resnet(arch, o);
  else if (arch.rfind("densenet", 0) == 0) net = make_densenet(arch, o);
  else if (arch == "mobilenet_v2") net = make_mobilenet_v2(o);
  else if (arch.rfind("unet_", 0) == 0) {  // segmenter: a U-Net decoder on one of the encoders above
    if (o.decoder_channels.size() != 5) throw std::runtime_error("a segmenter needs 5 decoderChannels");
    net = make_unet(arch, o, o.decoder_channels);
  }
  if (!net) throw std::runtime_error("unknown architecture '" + arch + "'");
  return net;
}

}  // namespace cxr
