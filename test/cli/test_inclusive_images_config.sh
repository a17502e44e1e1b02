# configs/inclusive_images.ini end to end (issue 14 point 4) on a small synthetic multi-label JPEG
# set (scripts/make_multilabel_jpegs.py, the Kaggle ImageID,LabelName layout): the shipped config,
# overridden only where the data differs (its folder, 6 labels, 32-pixel crops of 40-pixel
# images, top_k 3 of 6, one epoch), trains SE-ResNet-101 with the solution's set-up (the
# resolved config says so: SGD Nesterov lr 0.01, x0.1 every 10 epochs, batch 32, weight decay
# 1e-4, resize + random crop + flip, the inclusive loss) and logs F2 and mAP; plumb predict with
# ten-crop views writes the submission: every image, 2..5 label names each, image_id,labels.
source "$(dirname "$0")/lib.sh"
PY=${PYTHON:-/usr/bin/python3}
"$PY" -c "import PIL, numpy" 2>/dev/null || { echo "FAIL: $PY lacks Pillow / numpy (bash scripts/setup.sh installs them)"; exit 1; }
"$PY" "$PLUMB_SRC/scripts/make_multilabel_jpegs.py" "$T/data" 64 2 --size 48 > /dev/null || { echo "FAIL: generator"; exit 1; }
SETS=(--set data.dir="$T/data" --set data.test_path=test.csv --set model.num_classes=6 --set augment.size=32
      --set augment.resize=40 --set train.epochs=1 --set multilabel.top_k=3 --set run.out_dir="$T/runs"
      --set run.device=cpu --set run.threads=2 --set loader.workers=2)
"$PLUMB" train "$PLUMB_SRC/configs/inclusive_images.ini" "${SETS[@]}" > "$T/train.log" 2>&1
check "configs/inclusive_images.ini trains" test $? -eq 0
R=$T/runs/inclusive_images
check "SE-ResNet-101, 47,282,486 parameters with 6 outputs" grep -q "model seresnet101 with 47282486 parameters" "$T/train.log"
for kv in "arch = seresnet101" "loss = inclusive" "name = sgd" "lr = 0.01" "nesterov = true" "weight_decay = 1e-4" \
          "batch_size = 32" "name = step" "step_size = 10" "gamma = 0.1" "train = resize_random_crop" "flip = 0.5" \
          "multilabel = true" "score = inclusive" "threshold = 0.55" "min_labels = 2" "max_labels = 5"; do
  check "the resolved config: $kv" grep -qx "$kv" "$R/config.ini"
done
check "the epoch logs F2 and mAP" grep -qE "test_f2=[0-9.]+ \(threshold [0-9.]+\) test_map=[0-9.]+ test_p1=" "$T/train.log"
check "metrics.csv holds test_f2 and test_map" bash -c "head -1 '$R/metrics.csv' | grep -q 'test_f2,test_f2_threshold,test_f2_select,test_map'"
"$PLUMB" predict "$PLUMB_SRC/configs/inclusive_images.ini" "${SETS[@]}" --checkpoint "$R/checkpoints/step-0000000002.safetensors" \
  --input "$T/data/predict" --out "$T/submission.csv" --tta tencrop > "$T/predict.log" 2>&1
check "plumb predict --tta tencrop exits 0" test $? -eq 0
"$PY" - "$T" <<'PYEOF'
import csv, sys
t = sys.argv[1]
names = set(l.strip() for l in open(f"{t}/data/classes.txt"))
hdr = open(f"{t}/submission.csv").readline().strip()
rows = list(csv.DictReader(open(f"{t}/submission.csv")))
assert hdr == "image_id,labels", hdr
assert [r["image_id"] for r in rows] == ["test_%04d" % i for i in range(32)]
for r in rows:
    labs = r["labels"].split()
    assert 2 <= len(labs) <= 5 and set(labs) <= names and len(set(labs)) == len(labs), r
print("    32 rows, 2..5 known label names each")
PYEOF
check "the submission: every image, 2..5 label names (the solution's rule)" test $? -eq 0
finish
