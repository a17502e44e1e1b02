#!/usr/bin/python3
"""verification_numpy.py: the verification figures the straightforward numpy / scikit-learn way,
timed, beside `plumb bench --verification` (scripts/bench/bench_verification.sh runs both).

  /usr/bin/python3 scripts/bench/verification_numpy.py --probes 10000 --gallery 10000 --dim 128 \\
      --threads 2 [--sklearn]

Data: the same kind as plumb's bench (not the same numbers): one identity per 10 probes, each in
both sets, centre + 1.5x noise, float32 rows, cosine. Timed, after the data exists:
  numpy: normalise, one float32 GEMM (OpenBLAS, --threads), the genuine mask, the impostor scores
  copied out (N_imp floats), TPR at 1e-3..1e-6 exactly as plumb defines it (np.partition, not a
  sort), then the exact AUC by sorting the impostors and np.searchsorted for the genuine scores.
  No EER and no groups (plumb computes both in the same time).
  --sklearn: sklearn.metrics.roc_auc_score + roc_curve on the scores (what most evaluation code
  does). Sorts float64 copies of all pairs: use it on a subsample (3000 x 3000 = 9e6 pairs).
Prints key=value lines."""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--probes", type=int, default=10000)
    ap.add_argument("--gallery", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--sklearn", action="store_true")
    a = ap.parse_args()
    for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = str(a.threads)
    import numpy as np

    rng = np.random.default_rng(2026)
    p, g, d = a.probes, a.gallery, a.dim
    ids = max(p // 10, 1)
    sc = 1.0 / np.sqrt(d)
    ctr = (sc * rng.standard_normal((ids, d))).astype(np.float32)
    lp, lg = np.arange(p) % ids, np.arange(g) % ids
    xp = ctr[lp] + (1.5 * sc * rng.standard_normal((p, d))).astype(np.float32)
    xg = ctr[lg] + (1.5 * sc * rng.standard_normal((g, d))).astype(np.float32)
    fprs = [1e-3, 1e-4, 1e-5, 1e-6]

    t0 = time.perf_counter()
    xp /= np.linalg.norm(xp, axis=1, keepdims=True)
    xg /= np.linalg.norm(xg, axis=1, keepdims=True)
    s = xp @ xg.T
    mask = lp[:, None] == lg[None, :]
    gen = s[mask]
    imp = s[~mask]
    n_imp = imp.size
    ks = [min(int(np.floor(f * n_imp)), n_imp - 1) for f in fprs]
    part = np.partition(imp, [n_imp - 1 - k for k in ks])
    tpr = [float((gen > part[n_imp - 1 - k]).mean()) for k in ks]
    t1 = time.perf_counter()
    del part
    imp.sort()
    lo = np.searchsorted(imp, gen, "left")
    hi = np.searchsorted(imp, gen, "right")
    auc = (2.0 * lo.sum() + (hi - lo).sum()) / (2.0 * gen.size * n_imp)
    t2 = time.perf_counter()
    print("numpy %s: %dx%d D %d threads %d: n_gen=%d n_imp=%d auc=%.6f %s" % (
        np.__version__, p, g, d, a.threads, gen.size, n_imp, auc,
        " ".join("tpr@%g=%.4f" % (f, t) for f, t in zip(fprs, tpr))))
    print("numpy_tpr_seconds=%.3f numpy_tpr_auc_seconds=%.3f" % (t1 - t0, t2 - t0))
    if a.sklearn:
        from sklearn import __version__ as skv
        from sklearn.metrics import roc_auc_score, roc_curve
        t3 = time.perf_counter()
        y = mask.reshape(-1)
        v = s.reshape(-1)
        auc2 = roc_auc_score(y, v)
        fpr, tp, _ = roc_curve(y, v)
        i = np.nonzero(fpr + tp >= 1)[0][0]
        t4 = time.perf_counter()
        print("sklearn %s: auc=%.6f eer~%.6f (roc_curve point nearest, not interpolated)" % (skv, auc2, fpr[i]))
        print("sklearn_seconds=%.3f (numpy scores above + roc_auc_score + roc_curve: %.3f)" % (t4 - t3, t4 - t3 + t1 - t0))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
