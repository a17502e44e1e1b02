# plumb eval's eval.json (engine/run/eval_json.h): a colour-biased MLP on Fashion-MNIST evaluated on
# both test variants writes every figure under its stable name with the checkpoint, config and
# variant; the accuracy and per-class accuracy equal scikit-learn's accuracy_score and
# recall_score(average=None) over the --predictions file, the per-colour accuracy and the bias
# amplification A->T (colour as the attribute) and the ECE / MCE (15 bins, from the conf column)
# equal those recomputed from it; the bias figures are there, the
# cell-averaged accuracy is listed as skipped (no groupings); a default path beside the
# checkpoint; an unwritable --json path is a clear error with nothing written.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
cat > "$T/c.ini" <<INI
[run]
name = c
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = idx
dir = $DATA
limit_train = 600
limit_test = 300
bias = colour
test_variants = biased,unbiased
[model]
arch = mlp
hidden = 16
[train]
epochs = 1
batch_size = 50
INI
"$PLUMB" train "$T/c.ini" > /dev/null 2>&1
check "the run trains" test -f "$T/runs/c/checkpoints/step-0000000012.safetensors"
C=$T/runs/c/checkpoints/step-0000000012.safetensors
"$PLUMB" eval "$T/c.ini" --checkpoint "$C" --json "$T/e.json" --predictions "$T/p.csv" > "$T/eval.log" 2>&1
check "plumb eval --json exits 0" test $? -eq 0
check "plumb eval says where the figures are" grep -q "figures: $T/e.json" "$T/eval.log"
check "plumb eval prints a summary table (set, head, images, acc, disparity, ece)" \
  bash -c "grep -qE '^set +head +images +acc +disparity +ece\$' '$T/eval.log' && grep -qE '^unbiased +- +300 +0\.[0-9]{4} +[0-9.]+ +0\.[0-9]{4}\$' '$T/eval.log'"
"$PY" - "$T" "$C" <<'PYEOF'
import csv, json, sys
t, ck = sys.argv[1], sys.argv[2]
e = json.load(open(f"{t}/e.json"))
assert e["checkpoint"] == ck and e["config"].endswith("c.ini") and e["model"] == "mlp"
assert list(e["sets"]) == ["biased", "unbiased"]
rows = list(csv.DictReader(open(f"{t}/p.csv")))
for name, s in e["sets"].items():
    assert s["variant"] == name and s["n"] == 300 and s["samples"] == 300
    m = s["terms"][""]
    y = [int(r["label"]) for r in rows if r["set"] == name]
    p = [int(r["pred"]) for r in rows if r["set"] == name]
    acc = sum(a == b for a, b in zip(y, p)) / len(y)
    assert abs(m["accuracy"] - acc) < 1e-12, (m["accuracy"], acc)
    assert "bias" in s and s["bias"]["n_aligned"] + s["bias"]["n_conflicting"] == 300
    assert "cell_accuracy" in s["skipped"]
    try:
        from sklearn.metrics import accuracy_score, recall_score
    except ImportError:
        continue
    assert abs(accuracy_score(y, p) - m["accuracy"]) < 1e-12
    rec = recall_score(y, p, average=None, labels=list(range(10)), zero_division=0)
    for j in range(10):
        want = rec[j] if m["per_class_n"][j] else None
        got = m["per_class_accuracy"][j]
        assert (got is None and want is None) or abs(got - want) < 1e-12, (j, got, want)
    print(f"    {name}: accuracy {m['accuracy']:.4f} = scikit-learn's; per-class = recall_score(average=None)")
    # per colour (the attribute) and bias amplification A->T, the study's formula in plain Python
    g = [int(r["group"]) for r in rows if r["set"] == name]
    ga = m["group_accuracy"]
    for k in range(len(ga["per_group"])):
        idx = [i for i in range(len(y)) if g[i] == k]
        want = sum(y[i] == p[i] for i in idx) / len(idx) if idx else None
        assert (want is None and ga["per_group"][k] is None) or abs(ga["per_group"][k] - want) < 1e-12
    A, K, N = len(ga["per_group"]), 10, len(y)
    amp = 0.0
    for a in range(A):
        na = sum(1 for i in range(N) if g[i] == a)
        for t_ in range(K):
            pat = sum(1 for i in range(N) if g[i] == a and y[i] == t_) / N
            pa, pt = na / N, sum(1 for i in range(N) if y[i] == t_) / N
            yat = 1 if pat > pa * pt else 0
            d = (sum(1 for i in range(N) if g[i] == a and p[i] == t_) - sum(1 for i in range(N) if g[i] == a and y[i] == t_)) / na
            amp += yat * d + (1 - yat) * (-d)
    amp /= A * K
    got = m["bias_amplification"]["study_a_to_t"]
    assert abs(got - amp) < 1e-12, (got, amp)
    print(f"    {name}: per-colour accuracy and bias amplification A->T {got:.5f} = recomputed from predictions.csv")
    # ECE / MCE over 15 bins from the conf column, the Guo et al. way: float32 boundaries as
    # torch.linspace(0, 1, 16) (torch when it is here, else its scalar formula in numpy float32),
    # bin (lower, upper], empty bins skipped
    import numpy as np
    conf = np.array([np.float32(r["conf"]) for r in rows if r["set"] == name], dtype=np.float32)
    try:
        import torch
        b = torch.linspace(0, 1, 16).numpy()
    except ImportError:
        st = np.float32(1.0) / np.float32(15)
        b = np.array([st * np.float32(i) if i < 8 else np.float32(1) - st * np.float32(15 - i) for i in range(16)], np.float32)
    ok = np.array([a == q for a, q in zip(y, p)])
    ece, mce = 0.0, 0.0
    for lo, hi in zip(b[:-1], b[1:]):
        m_ = (conf > lo) & (conf <= hi)
        if m_.sum() == 0:
            continue
        gap = abs(ok[m_].mean() - conf[m_].astype(np.float64).mean())
        ece += m_.mean() * gap
        mce = max(mce, gap)
    c = m["calibration"]
    assert abs(c["ece"] - ece) < 1e-12 and abs(c["mce"] - mce) < 1e-12, (c["ece"], ece, c["mce"], mce)
    assert len(m["calibration_per_group"]) == len(ga["per_group"])
    print(f"    {name}: ECE {ece:.6f} MCE {mce:.6f} = recomputed from the confidences in predictions.csv")
PYEOF
check "eval.json: the figures of both variants, equal to scikit-learn's over predictions.csv" test $? -eq 0
# the epoch-end evaluation logs the same figures to metrics.csv (its last row: this checkpoint)
"$PY" - "$T" <<'PYEOF'
import csv, json, sys
t = sys.argv[1]
e = json.load(open(f"{t}/e.json"))
row = list(csv.DictReader(open(f"{t}/runs/c/metrics.csv")))[-1]
for name, s in e["sets"].items():
    m = s["terms"][""]
    ga = [a for a in m["group_accuracy"]["per_group"] if a is not None]
    for col, want in ((f"{name}_acc", m["accuracy"]), (f"{name}_ece", m["calibration"]["ece"]),
                      (f"{name}_mce", m["calibration"]["mce"]), (f"{name}_worst_group_acc", min(ga)),
                      (f"{name}_group_disparity", m["group_accuracy"]["disparity"]),
                      (f"{name}_biasamp", m["bias_amplification"]["study_a_to_t"])):
        assert abs(float(row[col]) - want) < 1e-6, (col, row[col], want)
    print(f"    metrics.csv {name}: acc, ece, mce, worst_group_acc, group_disparity, biasamp = eval.json's")
PYEOF
check "metrics.csv's epoch-end figures equal eval.json's for the last checkpoint" test $? -eq 0
# test-time views: the confidence is the largest view-averaged probability (p_0..p_9 in
# predictions.csv), calibrated from it
"$PLUMB" eval "$T/c.ini" --checkpoint "$C" --json "$T/tta.json" --predictions "$T/tta.csv" --set augment.tta=flip > /dev/null 2>&1
"$PY" - "$T" <<'PYEOF'
import csv, json, sys
import numpy as np
t = sys.argv[1]
e = json.load(open(f"{t}/tta.json"))
rows = [r for r in csv.DictReader(open(f"{t}/tta.csv")) if r["set"] == "unbiased"]
P = np.array([[np.float32(r[f"p_{j}"]) for j in range(10)] for r in rows], dtype=np.float32)
conf = np.array([np.float32(r["conf"]) for r in rows], dtype=np.float32)
pred = np.array([int(r["pred"]) for r in rows])
assert (conf == P.max(axis=1)).all() and (pred == P.argmax(axis=1)).all()
assert np.abs(P.astype(np.float64).sum(axis=1) - 1).max() < 1e-5
c = e["sets"]["unbiased"]["terms"][""]["calibration"]
ok = np.array([int(r["label"]) == int(r["pred"]) for r in rows])
b = np.linspace(0, 1, 16).astype(np.float32)
b[1:-1] = [float(np.float32(1.0) / np.float32(15) * np.float32(i)) if i < 8 else float(np.float32(1) - np.float32(1.0) / np.float32(15) * np.float32(15 - i)) for i in range(1, 15)]
ece = sum(((conf > lo) & (conf <= hi)).mean() * abs(ok[(conf > lo) & (conf <= hi)].mean() - conf[(conf > lo) & (conf <= hi)].astype(np.float64).mean())
          for lo, hi in zip(b[:-1], b[1:]) if ((conf > lo) & (conf <= hi)).any())
assert abs(c["ece"] - ece) < 1e-12, (c["ece"], ece)
print(f"    tta = flip: conf = max of the averaged p_j, pred = argmax, ECE {ece:.6f} = eval.json's")
PYEOF
check "tta = flip: calibration from the view-averaged probabilities in predictions.csv" test $? -eq 0
"$PLUMB" eval "$T/c.ini" --checkpoint "$C" > /dev/null 2>&1
check "the default eval.json sits beside the checkpoint" test -f "${C%.safetensors}.eval.json"
expect_fail "an eval.json in a missing folder" "$T/nope/e.json" "$PLUMB" eval "$T/c.ini" --checkpoint "$C" --json "$T/nope/e.json"
check "nothing half-written" bash -c "! ls $T/nope 2>/dev/null | grep -q ."
finish
