#!/usr/bin/python3
"""Test fixtures: a Hugging Face hub cache holding timm-style repos (model.safetensors in timm's
names + config.json with pretrained_cfg), built from torchvision models, and torchvision's
logits for them. For test/engine/timmWeights.test.ts.

Usage: timm_snapshot.py HUB_CACHE OUT_DIR
"""
import json, os, sys
import torch, torchvision

sys.path.insert(0, os.path.dirname(__file__))
from torchvision_oracle import save  # noqa: E402

hub, out = sys.argv[1], sys.argv[2]
torch.set_num_threads(2)
g = torch.Generator().manual_seed(11)
pixels = torch.randint(0, 256, (2, 64, 64, 3), generator=g, dtype=torch.uint8)
expected = {"pixels": pixels}

REPOS = [
    # (timm name, torchvision arch, mean, std, classifier)
    ("resnet18.tv_in1k", "resnet18", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], "fc"),
    ("densenet121.tv_in1k", "densenet121", [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], "classifier"),
]
for i, (name, arch, mean, std, classifier) in enumerate(REPOS):
    torch.manual_seed(20 + i)
    net = getattr(torchvision.models, arch)()
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    # timm's names for these families are torchvision's; timm's hub files carry no BN counters.
    sd = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    commit = "0123456789abcdef0123456789abcdef0123456%d" % i
    repo = os.path.join(hub, "models--timm--" + name)
    snap = os.path.join(repo, "snapshots", commit)
    os.makedirs(snap, exist_ok=True)
    os.makedirs(os.path.join(repo, "refs"), exist_ok=True)
    open(os.path.join(repo, "refs", "main"), "w").write(commit)
    save(os.path.join(snap, "model.safetensors"), sd)
    arch_name, tag = name.split(".")
    json.dump({"architecture": arch_name, "num_classes": 1000, "num_features": 512,
               "pretrained_cfg": {"tag": tag, "custom_load": False, "input_size": [3, 224, 224], "fixed_input_size": False,
                                  "interpolation": "bilinear", "crop_pct": 0.875, "crop_mode": "center", "mean": mean, "std": std,
                                  "num_classes": 1000, "pool_size": [7, 7], "first_conv": "conv1" if arch.startswith("resnet") else "features.conv0",
                                  "classifier": classifier, "license": "bsd-3-clause"}},
              open(os.path.join(snap, "config.json"), "w"))
    x = ((pixels.float() / 255.0).permute(0, 3, 1, 2) - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    with torch.no_grad():
        expected["logits." + arch] = net(x.contiguous())

save(os.path.join(out, "expected.safetensors"), expected)
