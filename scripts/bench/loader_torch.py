#!/usr/bin/env python3
"""loader_torch.py ROOT --workers 1,2 [--images N] [--batch B] [--size 224]: images/s of
torchvision ImageFolder + RandomResizedCrop + RandomHorizontalFlip + ToTensor + Normalize
through a PyTorch DataLoader, per worker count (the reference for plumb bench --loader).
Prints lines 'torch workers W: X images/s'."""
import argparse, time
import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root")
    ap.add_argument("--workers", default="1")
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    torch.set_num_threads(1)
    tf = transforms.Compose([transforms.RandomResizedCrop(a.size), transforms.RandomHorizontalFlip(),
                             transforms.ToTensor(), transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    ds = datasets.ImageFolder(a.root, transform=tf)
    ds = Subset(ds, list(range(min(a.images, len(ds)))))
    for w in [int(x) for x in a.workers.split(",")]:
        dl = DataLoader(ds, batch_size=a.batch, shuffle=True, num_workers=w, persistent_workers=True,
                        pin_memory=False)
        for _ in dl:  # warm-up pass: worker start, page cache
            pass
        t0, n = time.time(), 0
        for x, _ in dl:
            n += x.shape[0]
        dt = time.time() - t0
        print(f"torch workers {w:3d}: {n / dt:9.1f} images/s  ({n / dt / w:7.1f} per worker)", flush=True)
        del dl

if __name__ == "__main__":
    main()
