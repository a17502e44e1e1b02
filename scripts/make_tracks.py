#!/usr/bin/python3
"""make_tracks.py: synthetic video tracks for plumb's sequence models and verification
(issue 13; the seed-004 setting: 10-frame tracks of 512-d frame descriptors, one identity each).

    python3 scripts/make_tracks.py OUT_DIR [--identities 100] [--tracks 4] [--steps 10]
        [--dim 512] [--groups 2] [--noise 0.6,1.2] [--min-len 1] [--test-identities same|disjoint]
        [--test-tracks 2] [--nuisance R,TRACK,FRAME] [--seed 1]

Each identity has a centroid drawn from N(0, I_D) / sqrt(D) * 4 (unit-scale norms ~4) and a
group g = identity mod G. A track of an identity is the centroid plus a per-track offset
N(0, 0.3^2 I / D) and per-frame noise N(0, noise[g]^2 I / D) at each of T steps; its length is
uniform in [min_len, T] (steps past it are zeros). Groups differ only in their noise level, so
a model's verification accuracy by group measures a bias the data builds in.

--nuisance R,TRACK,FRAME adds what real frame descriptors carry besides identity (pose,
illumination): a fixed random R-dimensional subspace U shared by all identities, and in it a
per-track component N(0, TRACK^2 I / R) (constant along the track: averaging the frames keeps it)
plus a per-frame one N(0, FRAME^2 I / R). A model can learn to ignore U; the mean of the frames
cannot (R 16, TRACK 4, FRAME 4 drop its TPR at FPR 1e-6 well below 1 while removing U restores
it). Drawn from a second generator: without the option the output is unchanged.

Writes OUT_DIR/{train,test}_x.npy float32 [N, T, D], _y.npy int64 identity labels,
_len.npy int32 lengths, _group.npy int32 groups, and {train,test}.csv (label,group,length) for
the CSV-label path. With --test-identities disjoint the test identities are new ones (labels
continuing after the training identities): a verification split; with same, the test tracks
are new tracks of the training identities: a classification split. Deterministic for a seed.
"""
import argparse
import os

import numpy as np


def tracks(rng, ids, per, T, D, noise, groups, min_len):
    n = len(ids) * per
    x = np.zeros((n, T, D), dtype=np.float32)
    y = np.repeat(ids, per).astype(np.int64)
    g = (y % groups).astype(np.int32)
    lens = rng.integers(min_len, T + 1, n).astype(np.int32)
    return x, y, g, lens


def fill(rng, x, y, g, lens, cent, noise, nuis=None):
    n, T, D = x.shape
    for i in range(n):
        off = rng.normal(scale=0.3 / np.sqrt(D), size=D)
        frames = cent[y[i]] + off + rng.normal(scale=noise[g[i]] / np.sqrt(D), size=(lens[i], D))
        if nuis is not None:
            nrng, U, trk, frm = nuis
            R = U.shape[1]
            frames = frames + (nrng.normal(scale=trk / np.sqrt(R), size=R)
                               + nrng.normal(scale=frm / np.sqrt(R), size=(lens[i], R))) @ U.T
        x[i, :lens[i]] = frames.astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--identities", type=int, default=100)
    ap.add_argument("--tracks", type=int, default=4, help="training tracks per identity")
    ap.add_argument("--test-tracks", type=int, default=2, help="test tracks per identity")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--noise", default="0.6,1.2", help="per-frame noise level of each group")
    ap.add_argument("--min-len", type=int, default=1)
    ap.add_argument("--test-identities", choices=["same", "disjoint"], default="same")
    ap.add_argument("--nuisance", default="", help="R,TRACK,FRAME: a shared nuisance subspace (see above)")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    noise = [float(v) for v in a.noise.split(",")]
    if len(noise) != a.groups:
        ap.error(f"--noise has {len(noise)} levels for --groups {a.groups}")
    if not 1 <= a.min_len <= a.steps:
        ap.error("--min-len must be in [1, --steps]")
    rng = np.random.default_rng(a.seed)
    nid = a.identities * (2 if a.test_identities == "disjoint" else 1)
    cent = rng.normal(scale=4.0 / np.sqrt(a.dim), size=(nid, a.dim))
    train_ids = np.arange(a.identities)
    test_ids = train_ids if a.test_identities == "same" else np.arange(a.identities, nid)
    nuis = None
    if a.nuisance:
        v = a.nuisance.split(",")
        if len(v) != 3 or int(v[0]) < 1 or int(v[0]) > a.dim:
            ap.error("--nuisance R,TRACK,FRAME with 1 <= R <= --dim")
        nrng = np.random.default_rng([a.seed, 7])
        U = np.linalg.qr(nrng.normal(size=(a.dim, int(v[0]))))[0]
        nuis = (nrng, U, float(v[1]), float(v[2]))
    os.makedirs(a.out, exist_ok=True)
    for split, ids, per in (("train", train_ids, a.tracks), ("test", test_ids, a.test_tracks)):
        x, y, g, lens = tracks(rng, ids, per, a.steps, a.dim, noise, a.groups, a.min_len)
        fill(rng, x, y, g, lens, cent, noise, nuis)
        np.save(os.path.join(a.out, f"{split}_x.npy"), x)
        np.save(os.path.join(a.out, f"{split}_y.npy"), y)
        np.save(os.path.join(a.out, f"{split}_len.npy"), lens)
        np.save(os.path.join(a.out, f"{split}_group.npy"), g)
        with open(os.path.join(a.out, f"{split}.csv"), "w") as f:
            f.write("label,group,length\n")
            for i in range(len(y)):
                f.write(f"{y[i]},{g[i]},{lens[i]}\n")
        print(f"{split}: {len(y)} tracks of {len(ids)} identities, T {a.steps}, D {a.dim}")


if __name__ == "__main__":
    main()
