#!/usr/bin/python3
"""make_fmnist_tracks.py: Fashion-MNIST instance tracks for verification (issue 13; the seed-004
setting, short tracks of one identity, on data plumb has here).

    python3 scripts/make_fmnist_tracks.py OUT_DIR [--fmnist /usr/share/datasets/fashion-mnist]
        [--train-identities 2000] [--test-identities 1000] [--tracks 4] [--test-tracks 2]
        [--steps 10] [--min-len 4] [--hard-classes 0,2,4,6] [--hard-noise 0.25] [--noise 0.1]
        [--seed 1]

Each IMAGE is an identity (an instance, not a class: two photos of the same shirt are a genuine
pair, two shirts an impostor pair). A track of an identity is `steps` frames, each an augmented
view of its image: a random affine map (rotation within +-12 degrees, scale 0.9..1.1,
translation within +-2.5 px, bilinear), brightness and contrast jitter, additive Gaussian pixel
noise, and with probability 0.3 an erased 8x8 patch (an occlusion). Frames are the 784 pixels in
[0, 1] (float32), the per-frame descriptors an LSTM reads ([data] dataset = npy, [N, T, 784]).
Lengths are uniform in [min_len, steps]; steps past a length are zeros.

Bias: the group of an identity is 1 when its Fashion-MNIST class is in --hard-classes (the upper
body garments by default: T-shirt, pullover, coat, shirt, the classes most alike) and their
frames get --hard-noise instead of --noise: verification figures per group measure it.

Training identities are the first --train-identities images of the training file, test
identities the first --test-identities of the test file: disjoint by construction (no image is
in both). Writes OUT_DIR/{train,test}_x.npy [N, T, 784] float32, _y.npy int64 identities (test
ids continue after the training ones), _len.npy int32, _group.npy int32, _class.npy int32 (the
Fashion-MNIST class), and {train,test}.csv (label,group,class,length). Deterministic for a seed.
"""
import argparse
import gzip
import os

import numpy as np


def read_idx(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def views(rng, img, k, noise):
    """k augmented 28x28 views of img (float [28, 28] in [0, 1])."""
    h, w = img.shape
    out = np.empty((k, h, w), dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = (h - 1) / 2, (w - 1) / 2
    pad = np.zeros((h + 2, w + 2))
    pad[1:-1, 1:-1] = img
    for v in range(k):
        a = np.deg2rad(rng.uniform(-12, 12))
        s = rng.uniform(0.9, 1.1)
        ty, tx = rng.uniform(-2.5, 2.5, size=2)
        # inverse map: output pixel -> source coordinates
        c, sn = np.cos(a) / s, np.sin(a) / s
        dy, dx = yy - cy - ty, xx - cx - tx
        sy = c * dy - sn * dx + cy + 1
        sx = sn * dy + c * dx + cx + 1
        sy = np.clip(sy, 0, h + 1 - 1e-6)
        sx = np.clip(sx, 0, w + 1 - 1e-6)
        y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
        y1, x1 = np.minimum(y0 + 1, h + 1), np.minimum(x0 + 1, w + 1)
        fy, fx = sy - y0, sx - x0
        f = (pad[y0, x0] * (1 - fy) * (1 - fx) + pad[y0, x1] * (1 - fy) * fx + pad[y1, x0] * fy * (1 - fx)
             + pad[y1, x1] * fy * fx)
        f = f * rng.uniform(0.8, 1.2) + rng.uniform(-0.1, 0.1)
        f = f + rng.normal(scale=noise, size=f.shape)
        if rng.random() < 0.3:
            py, px = rng.integers(0, h - 8), rng.integers(0, w - 8)
            f[py:py + 8, px:px + 8] = 0
        out[v] = np.clip(f, 0, 1)
    return out


def split(rng, images, classes, ids, first_id, per, steps, min_len, hard, noise, hard_noise):
    n = len(ids) * per
    x = np.zeros((n, steps, 784), dtype=np.float32)
    y = np.repeat(np.arange(first_id, first_id + len(ids)), per).astype(np.int64)
    cls = np.repeat(classes[ids], per).astype(np.int32)
    g = np.isin(cls, hard).astype(np.int32)
    lens = rng.integers(min_len, steps + 1, n).astype(np.int32)
    for i in range(n):
        img = images[ids[i // per]].astype(np.float64) / 255.0
        x[i, :lens[i]] = views(rng, img, lens[i], hard_noise if g[i] else noise).reshape(lens[i], 784)
    return x, y, g, cls, lens


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--fmnist", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--train-identities", type=int, default=2000)
    ap.add_argument("--test-identities", type=int, default=1000)
    ap.add_argument("--tracks", type=int, default=4, help="training tracks per identity")
    ap.add_argument("--test-tracks", type=int, default=2, help="test tracks per identity")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--min-len", type=int, default=4)
    ap.add_argument("--hard-classes", default="0,2,4,6")
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--hard-noise", type=float, default=0.25)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if not 1 <= a.min_len <= a.steps:
        ap.error("--min-len must be in [1, --steps]")
    if a.tracks < 2 or a.test_tracks < 2:
        ap.error("--tracks and --test-tracks must be >= 2 (an identity needs a genuine pair)")
    hard = [int(v) for v in a.hard_classes.split(",") if v != ""]
    rng = np.random.default_rng(a.seed)
    os.makedirs(a.out, exist_ok=True)
    first = 0
    for name, img_f, lab_f, nid, per in (
            ("train", "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", a.train_identities, a.tracks),
            ("test", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", a.test_identities, a.test_tracks)):
        images = read_idx(os.path.join(a.fmnist, img_f))
        classes = read_idx(os.path.join(a.fmnist, lab_f))
        if nid > len(images):
            ap.error(f"--{name}-identities {nid}: the file has {len(images)} images")
        x, y, g, cls, lens = split(rng, images, classes, np.arange(nid), first, per, a.steps, a.min_len, hard,
                                   a.noise, a.hard_noise)
        first += nid
        for k, v in (("x", x), ("y", y), ("len", lens), ("group", g), ("class", cls)):
            np.save(os.path.join(a.out, f"{name}_{k}.npy"), v)
        with open(os.path.join(a.out, f"{name}.csv"), "w") as f:
            f.write("label,group,class,length\n")
            for i in range(len(y)):
                f.write(f"{y[i]},{g[i]},{cls[i]},{lens[i]}\n")
        print(f"{name}: {len(y)} tracks of {nid} identities, T {a.steps}, D 784, "
              f"group 1 (classes {a.hard_classes}): {int(g.sum())} tracks")


if __name__ == "__main__":
    main()
