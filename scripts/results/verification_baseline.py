#!/usr/bin/python3
"""verification_baseline.py: the baseline seed 004 compared its LSTM against: a track's embedding
is the mean of its frame descriptors over the valid steps (no training).

    python3 scripts/results/verification_baseline.py X.npy LEN.npy Y.npy [GROUP.npy] OUT.npy

X [N, T, D] float32 tracks, LEN [N] lengths, Y [N] identities, GROUP [N] groups. Writes OUT.npy
float32 [N, D] and OUT.csv (row,index,path,label,group: plumb embed's layout), to be scored with
`plumb verify --emb OUT.npy --rows OUT.csv --group-column group` like the trained model's.
"""
import sys

import numpy as np


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__)
    x = np.load(sys.argv[1], mmap_mode="r")
    lens = np.load(sys.argv[2]).astype(np.int64)
    y = np.load(sys.argv[3])
    g = np.load(sys.argv[4]) if len(sys.argv) == 6 else None
    out = sys.argv[-1]
    n, t, d = x.shape
    if lens.shape != (n,) or y.shape != (n,) or (g is not None and g.shape != (n,)):
        sys.exit("lengths, labels and groups must be [N] with the tracks' N")
    if lens.min() < 1 or lens.max() > t:
        sys.exit(f"lengths must be in [1, {t}]")
    emb = np.empty((n, d), dtype=np.float32)
    for i in range(n):
        emb[i] = np.asarray(x[i, :lens[i]], dtype=np.float64).mean(axis=0)
    np.save(out, emb)
    base = out[:-4] if out.endswith(".npy") else out
    with open(base + ".csv", "w") as f:
        f.write("row,index,path,label,group\n")
        for i in range(n):
            f.write(f"{i},{i},,{int(y[i])},{int(g[i]) if g is not None else ''}\n")
    print(f"{out}: {n} tracks, the mean of their valid frames ({d}-d)")


if __name__ == "__main__":
    main()
