#!/usr/bin/python3
"""Test oracle for the segmenter: a U-Net in segmentation_models_pytorch's layout
(Unet(encoder_name="mobilenet_v2"): encoder.features.* = torchvision's MobileNetV2 features,
decoder.blocks.N.conv{1,2}.{0,1}, segmentation_head.0) written in plain torch, since smp
is not installed. MobileNetV2 skips: features.1 (/2), .3 (/4), .6 (/8), .13 (/16); head: features.18
(/32). ResNet (smp's ResNetEncoder): relu(bn1(conv1)) /2, layer1 /4, layer2, layer3; head: layer4.

Usage: unet_oracle.py DIR...  (each DIR/job.json: {"encoder": mobilenet_v2 | resnet18 | resnet34, "decoderChannels", "mean", "std", "threads", "steps": [lr...]})
with model.safetensors and input.safetensors (pixels U8 NHWC, masks U8 NHW 0/1) beside it.
Writes out.json {"names"} and out.safetensors {logits, loss, state.* after the AdamW steps}.
"""
import json, os, sys
import torch, torchvision
import torch.nn as nn
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchvision_oracle import load, save

SKIPS = [1, 3, 6, 13]

class Conv2dReLU(nn.Sequential):
    def __init__(self, i, o):
        super().__init__(nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True))

class DecoderBlock(nn.Module):
    def __init__(self, i, s, o):
        super().__init__()
        self.conv1 = Conv2dReLU(i + s, o)
        self.conv2 = Conv2dReLU(o, o)
    def forward(self, x, skip=None):
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], 1)
        return self.conv2(self.conv1(x))

class Decoder(nn.Module):
    def __init__(self, enc, dec):
        super().__init__()
        ins = [enc[0]] + list(dec[:-1])
        skips = list(enc[1:]) + [0]
        self.blocks = nn.ModuleList([DecoderBlock(i, s, o) for i, s, o in zip(ins, skips, dec)])
    def forward(self, head, skips):
        x = head
        for i, b in enumerate(self.blocks):
            x = b(x, skips[i] if i < len(skips) else None)
        return x

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = torchvision.models.mobilenet_v2().features
    def forward(self, x):
        skips = []
        for i, m in enumerate(self.features):
            x = m(x)
            if i in SKIPS:
                skips.append(x)
        return x, skips[::-1]

class ResNetEncoder(nn.Module):
    """smp's ResNetEncoder: torchvision's ResNet without fc and avgpool (names conv1, bn1, layer1..4)."""
    def __init__(self, arch):
        super().__init__()
        net = getattr(torchvision.models, arch)()
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4
    def forward(self, x):
        s0 = self.relu(self.bn1(self.conv1(x)))
        s1 = self.layer1(self.maxpool(s0))
        s2 = self.layer2(s1)
        s3 = self.layer3(s2)
        return self.layer4(s3), [s3, s2, s1, s0]

class Unet(nn.Module):
    def __init__(self, dec, encoder="mobilenet_v2"):
        super().__init__()
        if encoder == "mobilenet_v2":
            self.encoder = Encoder()
            chans = [1280, 96, 32, 24, 16]
        else:
            self.encoder = ResNetEncoder(encoder)
            chans = [512, 256, 128, 64, 64]
        self.decoder = Decoder(chans, dec)
        self.segmentation_head = nn.Sequential(nn.Conv2d(dec[-1], 1, 3, padding=1))
    def forward(self, x):
        h, skips = self.encoder(x)
        return self.segmentation_head(self.decoder(h, skips))

def seg_loss(logits, y):
    """BCE-with-logits (mean over pixels) + soft Dice loss over the whole batch (smooth 1)."""
    bce = F.binary_cross_entropy_with_logits(logits, y)
    p = torch.sigmoid(logits)
    dice = (2 * (p * y).sum() + 1) / (p.sum() + y.sum() + 1)
    return bce + (1 - dice)

def run(d):
    job = json.load(open(os.path.join(d, "job.json")))
    torch.set_num_threads(job.get("threads", 1))
    net = Unet(job["decoderChannels"], job.get("encoder", "mobilenet_v2"))
    names = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    net.load_state_dict(load(os.path.join(d, "model.safetensors")), strict=True)
    inp = load(os.path.join(d, "input.safetensors"))
    px = inp["pixels"].float() / 255.0
    if px.shape[3] == 1:
        px = px.expand(-1, -1, -1, 3)
    x = px.permute(0, 3, 1, 2)
    x = ((x - torch.tensor(job["mean"]).view(1, 3, 1, 1)) / torch.tensor(job["std"]).view(1, 3, 1, 1)).contiguous()
    y = inp["masks"].float().unsqueeze(1)
    out = {}
    net.eval()
    with torch.no_grad():
        out["logits"] = net(x)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), lr=0.0, eps=1e-8, weight_decay=0.0)
    losses = []
    for lr in job.get("steps", []):
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad()
        loss = seg_loss(net(x), y)
        losses.append(loss.item())
        loss.backward()
        opt.step()
    out["loss"] = torch.tensor(losses, dtype=torch.float32)
    for k, v in net.state_dict().items():
        out["state." + k] = v
    save(os.path.join(d, "out.safetensors"), out)
    json.dump({"names": names}, open(os.path.join(d, "out.json"), "w"))

if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--bench":
        import time
        torch.set_num_threads(2)
        for dec in [[256, 128, 64, 32, 16], [128, 64, 32, 16, 16], [64, 32, 16, 16, 8]]:
            net = Unet(dec).eval()
            s = int(sys.argv[2])
            x = torch.randn(1, 3, s, s)
            with torch.no_grad():
                net(x)
                t = time.time(); [net(x) for _ in range(5)]; fwd = (time.time() - t) / 5
            net.train(); xb = torch.randn(8, 3, s, s)
            t = time.time(); net(xb).mean().backward(); tr = (time.time() - t) / 8
            print(dec, s, f"infer {fwd*1000:.0f} ms/img, train {tr*1000:.0f} ms/img")
    else:
        for d in sys.argv[1:]:
            run(d)
