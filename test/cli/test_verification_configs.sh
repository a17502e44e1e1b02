# The verification configs (configs/verification/) and their results script end to end, on small
# data: scripts/results/verification.sh generates synthetic tracks (with the nuisance subspace)
# and Fashion-MNIST instance tracks, scores the mean-of-frames baseline with plumb verify, trains
# each config for one epoch, embeds the test set with plumb embed and scores it; checks the
# tables, the JSON files and that the baseline's figures are the ones numpy computes directly from
# the tracks (the AUC by scikit-learn when it is there). The full-size figures are
# results/verification-cpu.md.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { echo "skipped: no python3 numpy (the track generators)"; exit 77; }
need_data
O=$T/out
SYNTHETIC_SIZE="--identities 60 --tracks 4 --test-tracks 4" FMNIST_SIZE="--train-identities 120 --test-identities 60" \
  FMNIST_DIR=$DATA PYTHON=$PY bash "$PLUMB_SRC/scripts/results/verification.sh" both "$O" -- --set train.epochs=1 \
  --set run.threads=2 --set data.pk_identities=6 --set train.batch_size=24 > "$T/v.log" 2>&1
rc=$?
check "verification.sh both exits 0" test $rc -eq 0
((rc)) && tail -20 "$T/v.log"
for k in synthetic fmnist; do
  check "$k: the table has the baseline and the LSTM" bash -c "grep -q 'mean of frame descriptors' '$O/$k/table.md' && grep -q 'LSTM + triplet, last epoch' '$O/$k/table.md'"
  check "$k: one epoch trained" grep -q "epoch 1/1 done" "$O/$k/train.log"
done
"$PY" - "$O" <<'PYEOF'
import json, sys
import numpy as np
o = sys.argv[1]
for k, ntest in (("synthetic", 240), ("fmnist", 120)):
    d = f"{o}/data/tracks-{k}"
    x, L, y = np.load(f"{d}/test_x.npy"), np.load(f"{d}/test_len.npy"), np.load(f"{d}/test_y.npy")
    assert len(y) == ntest, (k, len(y))
    m = np.stack([x[i, :L[i]].astype(np.float64).mean(0) for i in range(len(y))])
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    iu = np.triu_indices(len(y), 1)
    s, g = (m @ m.T)[iu], (y[:, None] == y[None, :])[iu]
    v = json.load(open(f"{o}/{k}/mean_of_frames.json"))
    assert v["n_gen"] == g.sum() and v["n_imp"] == (~g).sum()
    imp = np.sort(s[~g])[::-1]
    kk = int(1e-3 * len(imp)); t = imp[kk]; tpr = (s[g] > t).mean()
    p = v["tpr_at_fpr"][0]
    print(f"    {k}: baseline TPR@1e-3 plumb {p['tpr']:.4f} numpy {tpr:.4f}, AUC plumb {v['auc']:.6f}")
    assert p["fpr"] == 1e-3 and abs(p["tpr"] - tpr) <= 1.0 / g.sum() + 1e-12  # float32 vs float64 scores at a tie
    try:
        from sklearn.metrics import roc_auc_score
        assert abs(roc_auc_score(g, s) - v["auc"]) < 1e-4
    except ImportError:
        pass
    f = json.load(open(f"{o}/{k}/lstm_final.json"))
    assert f["n_gen"] == v["n_gen"] and len(f["groups"]) == 2
PYEOF
check "the baseline's figures agree with numpy (and scikit-learn); the LSTM's are over the same pairs" test $? -eq 0
expect_fail "an unknown kind" "unknown kind" bash "$PLUMB_SRC/scripts/results/verification.sh" faces "$T/x"
finish
