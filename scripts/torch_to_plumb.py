#!/usr/bin/env python3
"""torch_to_plumb.py: a torchvision or timm ResNet's state dict as a safetensors file that plumb's
[model] init_from reads (plumb's tensor names ARE torchvision's / timm's state_dict keys).

    python3 scripts/torch_to_plumb.py resnet50 resnet50.safetensors            # torchvision weights
    python3 scripts/torch_to_plumb.py timm:seresnet50 seresnet50.safetensors   # timm weights
Then: [model] arch = resnet50, init_from = resnet50.safetensors (init_exclude = fc.* to
fine-tune with another num_classes). The reverse needs nothing: a plumb checkpoint loads with
model.load_state_dict(safetensors.torch.load_file(path)).
"""
import sys

import torch


def main():
    name, out = sys.argv[1], sys.argv[2]
    if name.startswith("timm:"):
        import timm
        model = timm.create_model(name[5:], pretrained=True)
    else:
        import torchvision
        model = torchvision.models.get_model(name, weights="DEFAULT")
    sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    from safetensors.torch import save_file
    save_file(sd, out)
    print(f"wrote {out}: {len(sd)} tensors")


if __name__ == "__main__":
    main()
