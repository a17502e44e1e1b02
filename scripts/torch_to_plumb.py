#!/usr/bin/env python3
"""torch_to_plumb.py: a torchvision or timm ResNet's state dict as a safetensors file that plumb's
[model] init_from reads (plumb's tensor names ARE torchvision's / timm's state_dict keys).

    python3 scripts/torch_to_plumb.py resnet50 resnet50.safetensors            # torchvision weights
    python3 scripts/torch_to_plumb.py timm:seresnet50 seresnet50.safetensors   # timm weights
    python3 scripts/torch_to_plumb.py resnet18 r18.safetensors --random --num-classes 4 --seed 1
                                      # no download: a freshly initialised model (offline checks)
Then: [model] arch = resnet50, init_from = resnet50.safetensors (init_exclude = fc.* to
fine-tune with another num_classes). The reverse needs nothing: a plumb checkpoint loads with
model.load_state_dict(safetensors.torch.load_file(path)).
Writes with the safetensors package when it is installed, else with scripts/fixtures/stwrite.py
(numpy only).
"""
import argparse
import os
import sys

import torch


def build(name, random, num_classes):
    kw = {} if num_classes is None else {"num_classes": num_classes}
    if name.startswith("timm:"):
        import timm
        return timm.create_model(name[5:], pretrained=not random, **kw)
    import torchvision
    ctor = getattr(torchvision.models, name)
    return ctor(weights=None if random else "DEFAULT", **kw)


def save(sd, out):
    try:
        from safetensors.torch import save_file
        save_file(sd, out)
    except ImportError:
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
        import stwrite
        stwrite.save(out, {k: v.numpy() for k, v in sd.items()})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("name", help="torchvision model name (resnet50) or timm:NAME (timm:seresnet50)")
    ap.add_argument("out", help="the .safetensors file to write")
    ap.add_argument("--random", action="store_true", help="no pretrained weights: a fresh initialisation")
    ap.add_argument("--num-classes", type=int, default=None, help="classifier size (default: the model's)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    model = build(a.name, a.random, a.num_classes)
    # plumb keeps BN's num_batches_tracked as int64 like PyTorch; everything else float32.
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save(sd, a.out)
    print(f"wrote {a.out}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
