# Metric learning end to end: an LSTM embedding of synthetic tracks (scripts/make_tracks.py, test
# identities disjoint from the training ones) trained with the batch-hard triplet loss on P x K
# batches ([data] sampler = pk); each epoch's verification of the test set (metrics/verification.h)
# in the log, metrics.csv and eval.json; the embedding learns (test AUC and TPR rise); resume is
# bit-exact with the P x K sampler; `plumb embed` writes a .npy numpy reads and a CSV of its rows,
# and the AUC recomputed from them with scikit-learn is eval.json's; the identity-overlap warning;
# batch-all / soft margin / squared distances train; bad input is a clear error.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import numpy" 2>/dev/null || { echo "skipped: no python3 numpy (make_tracks.py)"; exit 77; }
"$PY" "$PLUMB_SRC/scripts/make_tracks.py" "$T/data" --identities 40 --tracks 6 --test-tracks 4 --steps 8 --dim 16 \
  --noise 2.5,5 --min-len 2 --test-identities disjoint --seed 5 > /dev/null || { echo "FAIL: make_tracks.py"; exit 1; }
cat > "$T/trip.ini" <<INI
[run]
name = trip
out_dir = $T/runs
seed = 2
device = cpu
threads = 2
log_interval = 5
[data]
dataset = npy
dir = $T/data
train_path = train_x.npy
test_path = test_x.npy
train_targets = train_y.npy
test_targets = test_y.npy
train_lengths = train_len.npy
test_lengths = test_len.npy
test_groups = test_group.npy
sampler = pk
pk_identities = 8
pk_samples = 4
[model]
arch = lstm
frame_proj = 16
lstm_hidden = 16
pooling = mean
embedding_dim = 16
embedding_l2 = true
[train]
epochs = 6
batch_size = 32
loss = triplet
[optim]
name = adam
lr = 0.003
INI
"$PLUMB" train "$T/trip.ini" > "$T/trip.log" 2>&1
check "a triplet run trains (exit 0)" test $? -eq 0
check "the log describes the P x K sampler" grep -q "sampler pk: 8 identities x 4 samples per batch, 5 batches per epoch over 40 identities" "$T/trip.log"
check "the progress lines log the active fraction" grep -q "| triplet: [0-9.]*, active: [0-9.]*, excluded: 0.0000" "$T/trip.log"
check "each epoch logs the verification of the test set" test "$(grep -c "test: verification cosine all_pairs: n_gen=" "$T/trip.log")" -eq 6
check "no overlap warning: the test identities are new" bash -c "! grep -q WARNING '$T/trip.log'"
R=$T/runs/trip
"$PY" - "$R" <<'PYEOF'
import csv, json, sys
r = sys.argv[1]
rows = list(csv.DictReader(open(f"{r}/metrics.csv")))
for k in ("train_loss", "train_active", "train_excluded", "test_auc", "test_eer", "test_tpr_at_fpr_0.001", "test_tpr_at_fpr_1e-06"):
    assert k in rows[0], k
a0, a1 = float(rows[0]["test_auc"]), float(rows[-1]["test_auc"])
t0, t1 = float(rows[0]["test_tpr_at_fpr_0.001"]), float(rows[-1]["test_tpr_at_fpr_0.001"])
act = [float(x["train_active"]) for x in rows]
print(f"    test AUC {a0:.4f} -> {a1:.4f}, TPR@1e-3 {t0:.4f} -> {t1:.4f}, active {act[0]:.3f} -> {act[-1]:.3f}")
assert a1 >= a0 + 0.01 and t1 > t0, "the embedding does not learn"
assert 0 < act[-1] < act[0] <= 1, "the active fraction falls as the loss is minimised"
e = json.load(open(f"{r}/eval.json"))
v = e["sets"]["test"]["verification"]
assert e["epoch"] == 6 and e["sets"]["test"]["n"] == 160
assert v["n_gen"] == 40 * 6 and v["n_imp"] == 160 * 159 // 2 - 240, (v["n_gen"], v["n_imp"])
assert abs(v["auc"] - a1) < 1e-6
assert e["sets"]["test"]["identity_overlap"]["shared"] == 0
gs = v["groups"]  # make_tracks.py: group = identity mod 2, group 1 twice the frame noise
assert [g["group"] for g in gs] == [0, 1] and all(g["n_gen"] == 120 for g in gs), gs
g0, g1 = float(rows[-1]["test_group0_auc"]), float(rows[-1]["test_group1_auc"])
print(f"    per group: test AUC {g0:.4f} (noise 2.5) vs {g1:.4f} (noise 5)")
assert g0 > g1, "the noisier group verifies worse"
assert "test_group1_tpr_at_fpr_0.001" in rows[0]
pts = {p["fpr"]: p for p in v["tpr_at_fpr"]}
assert pts[1e-6]["below_resolution"] and not pts[1e-3]["below_resolution"]
PYEOF
check "metrics.csv and eval.json hold the figures; the embedding learns" test $? -eq 0

# plumb embed: the .npy and its rows; the AUC from them (scikit-learn) is eval.json's
C=$R/checkpoints/step-0000000030.safetensors
"$PLUMB" embed "$T/trip.ini" --checkpoint "$C" --out "$T/emb.npy" > "$T/embed.log" 2>&1
check "plumb embed exits 0" test $? -eq 0
check "plumb embed says what it wrote" grep -q "160 test samples embedded in 16 dimensions" "$T/embed.log"
"$PY" - "$T" "$R" <<'PYEOF'
import csv, json, sys
import numpy as np
t, r = sys.argv[1], sys.argv[2]
e = np.load(f"{t}/emb.npy")
rows = list(csv.DictReader(open(f"{t}/emb.csv")))
assert e.dtype == np.float32 and e.shape == (160, 16), (e.dtype, e.shape)
assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5), "embedding_l2 rows have norm 1"
lab = np.array([int(x["label"]) for x in rows])
assert (lab == np.load(f"{t}/data/test_y.npy")).all() and [int(x["index"]) for x in rows] == list(range(160))
try:
    from sklearn.metrics import roc_auc_score
except ImportError:
    print("    (no scikit-learn: the AUC cross-check is skipped)"); sys.exit(0)
n = e / np.linalg.norm(e.astype(np.float64), axis=1, keepdims=True)
s = (n @ n.T)[np.triu_indices(160, 1)]
g = (lab[:, None] == lab[None, :])[np.triu_indices(160, 1)]
auc = roc_auc_score(g, s)
want = json.load(open(f"{r}/eval.json"))["sets"]["test"]["verification"]["auc"]
print(f"    scikit-learn AUC from emb.npy {auc:.8f}, eval.json {want:.8f}")
assert abs(auc - want) < 1e-4
PYEOF
check "emb.npy and emb.csv are the test set's embeddings; scikit-learn's AUC is eval.json's" test $? -eq 0
"$PLUMB" embed "$T/trip.ini" --checkpoint "$C" --out "$T/tr.npy" --split train --csv "$T/tr_rows.csv" > /dev/null 2>&1
check "plumb embed --split train --csv" "$PY" -c "import numpy as np, sys; e = np.load('$T/tr.npy'); sys.exit(e.shape != (240, 16))"

out=$("$PLUMB" eval "$T/trip.ini" --checkpoint "$C" --json "$T/ev.json" 2>&1)
check "plumb eval of an embedding model: its summary row (images, auc, eer, tpr@0.001)" \
  grep -qE '^test +160 +0\.[0-9]{4} +0\.[0-9]{4} +0\.[0-9]{4}$' <<<"$out"

# plumb verify: the same figures from emb.npy / emb.csv (every pair), per group, and probe x gallery
"$PLUMB" verify --emb "$T/emb.npy" --rows "$T/emb.csv" --group-column group --json "$T/v.json" > "$T/verify.log" 2>&1
check "plumb verify exits 0" test $? -eq 0
check "plumb verify: eval.json's figures, bit for bit" "$PY" - "$T/v.json" "$R/eval.json" <<'PYEOF'
import json, sys
v = json.load(open(sys.argv[1])); e = json.load(open(sys.argv[2]))["sets"]["test"]["verification"]
sys.exit(not (v["auc"] == e["auc"] and v["eer"] == e["eer"] and v["tpr_at_fpr"] == e["tpr_at_fpr"] and v["groups"] == e["groups"]))
PYEOF
"$PY" - "$T" <<'PYEOF'
import sys, numpy as np
t = sys.argv[1]
e = np.load(f"{t}/emb.npy"); rows = open(f"{t}/emb.csv").read().splitlines()
# probes: the first track of each test identity (4 per identity, in order), gallery: the other three
np.save(f"{t}/probe.npy", e[0::4]); np.save(f"{t}/gal.npy", np.delete(e, np.s_[0::4], axis=0))
open(f"{t}/probe.csv", "w").write("\n".join([rows[0]] + rows[1::4]) + "\n")
open(f"{t}/gal.csv", "w").write("\n".join([rows[0]] + [r for i, r in enumerate(rows[1:]) if i % 4]) + "\n")
PYEOF
"$PLUMB" verify --emb "$T/probe.npy" --rows "$T/probe.csv" --gallery "$T/gal.npy" --gallery-rows "$T/gal.csv" --fpr 0.01 > "$T/pg.log" 2>&1
check "plumb verify probe x gallery: 40 x 120 pairs, 120 genuine" grep -q "probe_gallery: n_gen=120 n_imp=4680 .*tpr@0.01=" "$T/pg.log"
expect_fail "verify: rows and embeddings disagree" "rows" "$PLUMB" verify --emb "$T/probe.npy" --rows "$T/emb.csv"
expect_fail "verify: sequence features are no embeddings" "embeddings must be a float32 [N, D] .npy" "$PLUMB" verify --emb "$T/data/test_x.npy" --rows "$T/emb.csv"
expect_fail "verify: a gallery without its rows" "--gallery and --gallery-rows go together" "$PLUMB" verify --emb "$T/emb.npy" --rows "$T/emb.csv" --gallery "$T/gal.npy"
expect_fail "verify: a bad --fpr" "--fpr 0,1" "$PLUMB" verify --emb "$T/emb.npy" --rows "$T/emb.csv" --fpr 0,1
expect_fail "verify: no such label column" "no column named 'ident' ([data] label_columns)" "$PLUMB" verify --emb "$T/emb.npy" --rows "$T/emb.csv" --label-column ident

# an image model's embedding (plumb embed is not for sequence models only): simplecnn on
# Fashion-MNIST with the classes as identities, P x K = 5 x 4, then plumb embed of the test images
if [[ -r $DATA/train-images-idx3-ubyte.gz ]]; then
  cat > "$T/img.ini" <<INI
[run]
name = img
out_dir = $T/runs
device = cpu
threads = 2
[data]
dataset = idx
dir = $DATA
limit_train = 400
limit_test = 200
sampler = pk
pk_identities = 5
pk_samples = 4
[model]
arch = simplecnn
channels = 8
embedding_dim = 8
embedding_l2 = true
[train]
epochs = 1
batch_size = 20
loss = triplet
INI
  "$PLUMB" train "$T/img.ini" > "$T/img.log" 2>&1
  check "an image embedding model trains with the triplet loss" grep -q "test: verification cosine all_pairs: n_gen=" "$T/img.log"
  "$PLUMB" embed "$T/img.ini" --checkpoint "$T/runs/img/checkpoints/step-0000000002.safetensors" --out "$T/img.npy" > /dev/null 2>&1
  check "plumb embed of an image model: [200, 8]" "$PY" -c "import numpy as np, sys; sys.exit(np.load('$T/img.npy').shape != (200, 8))"
else
  echo "    (no Fashion-MNIST at $DATA: the image-model case is skipped)"
fi

# exact resume with the P x K sampler (a stop in the middle of epoch 3)
"$PLUMB" train "$T/trip.ini" --set run.name=straight --set train.max_steps=17 > /dev/null 2>&1
"$PLUMB" train "$T/trip.ini" --set run.name=split --set train.max_steps=12 > /dev/null 2>&1
"$PLUMB" train "$T/trip.ini" --set run.name=split --set train.max_steps=17 > "$T/b2.log" 2>&1
check "second half resumed" grep -q "resumed from" "$T/b2.log"
A=$T/runs/straight/checkpoints/step-0000000017 B=$T/runs/split/checkpoints/step-0000000017
check "triplet + pk: bit-identical after resume" cmp "$A.safetensors" "$B.safetensors"
check "triplet + pk: optimizer state bit-identical after resume" cmp "$A.state.safetensors" "$B.state.safetensors"
"$PLUMB" train "$T/trip.ini" --set run.name=seed3 --set run.seed=3 --set train.max_steps=17 > /dev/null 2>&1
check "another seed draws other batches (the comparison can fail)" bash -c "! cmp -s $A.safetensors $T/runs/seed3/checkpoints/step-0000000017.safetensors"

# On a GPU machine: the CUDA triplet loss (kernels/cuda/triplet.cu) behind the cuDNN LSTM trains
# the same model on the same P x K batches as the CPU (tf32 off): every tensor after 10 Adam steps
# within rel 1e-3 of the CPU's, and the GPU run's test AUC within 1e-3 of the CPU run's.
ngpu=$("$PLUMB" info 2>&1 | sed -n 's/^GPUs: \([0-9]*\).*/\1/p')
if [[ -n "$ngpu" && "$ngpu" != "0" ]]; then
  G="--set train.max_steps=10 --set run.tf32=false --set run.checkpoint_every_steps=10 --set train.epochs=2"
  "$PLUMB" train "$T/trip.ini" $G --set run.name=cpu10 --set run.device=cpu > /dev/null 2>&1
  "$PLUMB" train "$T/trip.ini" $G --set run.name=gpu10 --set run.device=cuda > "$T/gpu.log" 2>&1
  check "GPU triplet run exits 0" test $? -eq 0
  out=$("$PY" - "$PLUMB_SRC/scripts/fixtures" "$T/runs/cpu10/checkpoints/step-0000000010.safetensors" \
    "$T/runs/gpu10/checkpoints/step-0000000010.safetensors" "$T/runs/cpu10/metrics.csv" "$T/runs/gpu10/metrics.csv" <<'PYEOF'
import csv, sys; sys.path.insert(0, sys.argv[1]); import stwrite, numpy as np
c, g = stwrite.load(sys.argv[2])[0], stwrite.load(sys.argv[3])[0]
worst = max(np.linalg.norm(g[k].astype(np.float64) - c[k]) / max(np.linalg.norm(c[k].astype(np.float64)), 1e-30) for k in c)
ac = float(list(csv.DictReader(open(sys.argv[4])))[0]["test_auc"])
ag = float(list(csv.DictReader(open(sys.argv[5])))[0]["test_auc"])
print(f"worst ||gpu - cpu|| / ||cpu|| over {len(c)} tensors: {worst:.2e}; test AUC cpu {ac:.6f} gpu {ag:.6f}")
sys.exit(0 if worst <= 1e-3 and sorted(c) == sorted(g) and abs(ac - ag) <= 1e-3 else 1)
PYEOF
)
  rc=$?; echo "    $out"
  check "GPU and CPU triplet training agree" test $rc -eq 0
fi

# the variants train (one epoch each)
for v in "train.triplet_mining=all" "train.triplet_soft=true" "train.triplet_distance=squared" \
  "train.triplet_reduction=mean_nonzero"; do
  "$PLUMB" train "$T/trip.ini" --set run.name="v$v" --set train.epochs=1 --set "$v" > "$T/v.log" 2>&1
  check "$v trains" grep -q "test: verification cosine" "$T/v.log"
done
"$PLUMB" train "$T/trip.ini" --set run.name=l2 --set train.epochs=1 --set verify.score=l2 --set verify.fpr=0.01,0.001 > "$T/l2.log" 2>&1
check "[verify] score = l2 and fpr" grep -q "verification neg_l2 all_pairs.*tpr@0.01=" "$T/l2.log"

# an evaluated identity seen in training: a loud warning in the log and eval.json
"$PY" "$PLUMB_SRC/scripts/make_tracks.py" "$T/same" --identities 12 --tracks 4 --test-tracks 2 --steps 8 --dim 16 \
  --test-identities same --seed 5 > /dev/null
"$PLUMB" train "$T/trip.ini" --set run.name=same --set data.dir="$T/same" --set train.epochs=1 > "$T/same.log" 2>&1
check "shared identities: a WARNING at the start" grep -q "the test set: WARNING: 12 of 12 evaluated identities (24 evaluated rows) also appear in the training set" "$T/same.log"
check "shared identities: eval.json counts them" "$PY" -c "import json, sys; o = json.load(open('$T/runs/same/eval.json'))['sets']['test']['identity_overlap']; sys.exit(o['shared'] != 12)"

# bad input
"$PY" - "$T/data" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
y = np.load(f"{d}/train_y.npy")
np.save(f"{d}/single_y.npy", np.arange(len(y), dtype=np.int64))  # every sample its own identity
t = np.load(f"{d}/test_y.npy")
np.save(f"{d}/test_single_y.npy", np.arange(len(t), dtype=np.int64))
PYEOF
B=(--set run.name=bad)
expect_fail "batch_size not P x K" "sampler = pk draws P x K = 8 x 4 = 32 samples per batch, but [train] batch_size = 30" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set train.batch_size=30
expect_fail "more identities per batch than exist" "P = 50 identities, but the data has 40 identities" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set data.pk_identities=50 --set train.batch_size=200
expect_fail "no identity with 2 samples" "no identity of the 240 has 2 samples" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set data.train_targets=single_y.npy
expect_fail "a test set without a genuine pair" "the test set (160 samples, 160 identities, 0 of them with 2 or more samples) has no genuine pair" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set data.test_targets=test_single_y.npy
expect_fail "an embedding with cross-entropy" "an embedding has no classes for [train] loss = ce" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set train.loss=ce
expect_fail "triplet without an embedding" "[train] loss = triplet trains an embedding: set [model] embedding_dim" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set model.embedding_dim=0 --set model.embedding_l2=false --set model.num_classes=40 --set data.test_targets=train_y.npy --set data.test_path=train_x.npy --set data.test_lengths=train_len.npy --set data.test_groups=train_group.npy
expect_fail "an unknown mining" "triplet_mining" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set train.triplet_mining=semihard
expect_fail "K = 1" "pk_samples" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set data.pk_samples=1
expect_fail "an fpr of 1" "fpr" "$PLUMB" train "$T/trip.ini" "${B[@]}" --set verify.fpr=1
expect_fail "embed: no --out" "--out" "$PLUMB" embed "$T/trip.ini" --checkpoint "$C"
expect_fail "embed: an unknown split" "--split nope: no set of that name" "$PLUMB" embed "$T/trip.ini" --checkpoint "$C" --out "$T/x.npy" --split nope
expect_fail "embed: a missing checkpoint" "nothere.safetensors" "$PLUMB" embed "$T/trip.ini" --checkpoint "$T/nothere.safetensors" --out "$T/x.npy"
check "no run folder or output was written by the failed runs" bash -c "! ls -d $T/runs/bad $T/x.npy $T/x.csv 2>/dev/null | grep -q ."
finish
