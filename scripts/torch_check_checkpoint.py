"""torch_check_checkpoint.py: loads a plumb `simplecnn` checkpoint (or, with --arch, a ResNet-family
checkpoint into torchvision's model: scripts/fixtures/resnet_torch.py) into the same model written
in PyTorch with model.load_state_dict (strict: every key, shape and buffer must match) and
prints its accuracy on the plain Fashion-MNIST test set, to compare with
`plumb eval CONFIG --checkpoint FILE --set data.bias=none`.

    /usr/bin/python3 scripts/torch_check_checkpoint.py runs/quickstart/checkpoints/step-*.safetensors
    /usr/bin/python3 scripts/torch_check_checkpoint.py CKPT --arch resnet18 --small-stem --limit 256
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "fixtures"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "bench"))
import stwrite  # noqa: E402
from quickstart_torch import read_idx  # noqa: E402


class SimpleCNN(nn.Module):
    """plumb's simplecnn: features = [Conv3x3 (no bias), BN, ReLU, MaxPool2] per width, fc."""

    def __init__(self, channels, num_classes=10, in_ch=1, hw=28):
        super().__init__()
        layers, c = [], in_ch
        for w in channels:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c, hw = w, hw // 2
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c * hw * hw, num_classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.features(x), 1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("--channels", default="16,32")
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--arch", default="simplecnn")
    ap.add_argument("--small-stem", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="first N test images (plumb's [data] limit_test)")
    a = ap.parse_args()
    tensors, meta = stwrite.load(a.checkpoint)
    if a.arch == "simplecnn":
        model = SimpleCNN([int(c) for c in a.channels.split(",")])
    else:
        import resnet_torch
        model = resnet_torch.build(a.arch, num_classes=10, in_ch=1, small_stem=a.small_stem)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    model.eval()
    x = torch.from_numpy(read_idx(f"{a.data}/t10k-images-idx3-ubyte.gz").copy()).unsqueeze(1).float()
    x = (x / 255.0 - 0.5) / 0.5
    y = torch.from_numpy(read_idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    with torch.no_grad():
        logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    print(f"loaded {len(tensors)} tensors (step {meta.get('step')}) with load_state_dict(strict=True)")
    print(f"torch: test_loss={loss:.4f} test_acc={acc:.4f}")


if __name__ == "__main__":
    main()
