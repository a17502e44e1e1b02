# Image-sequence manifests end to end ([data] track_column): a generated CSV of one row per
# frame (tracks of 2-4 PNG frames, two classes by brightness, rows shuffled) trains an
# `arch = mlp` (it flattens any input: here [N, T * c, h, w]) for 2 epochs with flip, exit 0,
# and its parameter count shows the model input T * c x h x w; eval reproduces the final
# test accuracy. Through the CLI, each bad input is a clear error: a duplicate frame (file:line),
# a track with two labels, a track longer than max_frames, tta with sequences, track_column
# with dataset = npy; a missing frame file is one bad track, named, and the run goes on.
source "$(dirname "$0")/lib.sh"
command -v python3 >/dev/null || { echo "skipped: python3 (standard library) writes the PNGs"; exit 77; }
D=$T/data
mkdir -p "$D/img"
python3 - "$D" <<'PY' || { echo "FAIL: dataset generator"; exit 1; }
import random, struct, sys, zlib
d = sys.argv[1]
def png(path, v, s=8):
    raw = b"".join(b"\0" + bytes((v + 3 * x + y + ch) % 256 for x in range(s) for ch in range(3)) for y in range(s))
    def chunk(t, b): return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", s, s, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
rng = random.Random(1)
for split, ntr in (("train", 40), ("test", 12)):
    rows = []
    for k in range(ntr):
        label = ("dark", "bright")[k % 2]
        for f in range(2 + k % 3):
            p = "img/%s_%d_%d.png" % (split, k, f)
            png(d + "/" + p, (30 if k % 2 == 0 else 170) + rng.randrange(40))
            rows.append("%s-%d,%d,%s,%s" % (split, k, 10 * f, p, label))
    rng.shuffle(rows)
    open(d + "/" + split + ".csv", "w").write("track,frame,path,label\n" + "\n".join(rows) + "\n")
PY
cat > "$T/seq.ini" <<INI
[run]
name = seq
out_dir = $T/runs
seed = 1
device = cpu
threads = 2
log_interval = 100
[data]
dataset = csv
dir = $D
train_path = train.csv
test_path = test.csv
path_column = path
label_columns = label
track_column = track
[augment]
size = 8
flip = 0.5
[model]
arch = mlp
hidden = 16
num_classes = 2
[train]
epochs = 2
batch_size = 8
[optim]
lr = 0.05
[loader]
workers = 3
INI
out=$("$PLUMB" train "$T/seq.ini" 2>&1)
rc=$?
check "mlp on image sequences trains 2 epochs, exit 0 (got $rc)" test $rc -eq 0
# T = 4 frames of 3 x 8 x 8: Linear(768, 16) + Linear(16, 2) = 12288 + 16 + 32 + 2 parameters
check "40 tracks, the model input is T * c x h x w (12338 parameters)" \
  grep -q "data: train 40, val 0, test 12 images of 3x8x8; model mlp with 12338 parameters" <<<"$out"
grep -E "^.*(data:|epoch 2/2 done)" <<<"$out" | sed 's/^/    /'
acc_train=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "test_acc=[0-9.]+")
ck=$(ls "$T"/runs/seq/checkpoints/step-*[0-9].safetensors 2>/dev/null | tail -1)
acc_eval=$("$PLUMB" eval "$T/seq.ini" --checkpoint "$ck" 2>&1 | grep -oE "test_acc=[0-9.]+")
check "eval reproduces the final test accuracy ($acc_train vs $acc_eval)" test -n "$acc_train" -a "$acc_train" = "$acc_eval"

# Bad inputs, each through the CLI.
{ head -1 "$D/train.csv"; grep "^train-0," "$D/train.csv"; grep "^train-0," "$D/train.csv" | head -1; } > "$D/dup.csv"
expect_fail "a duplicate frame names file:line" "dup.csv:4: frame" \
  "$PLUMB" train "$T/seq.ini" --set run.name=dup --set data.train_path=dup.csv
{ head -1 "$D/train.csv"; grep "^train-0," "$D/train.csv"; grep "^train-1," "$D/train.csv" | head -1 | sed 's/^train-1,[0-9]*/train-0,99/'; } > "$D/twolab.csv"
expect_fail "a track with two labels" "track 'train-0' has label 'bright' in column 'label' here but 'dark'" \
  "$PLUMB" train "$T/seq.ini" --set run.name=twolab --set data.train_path=twolab.csv
expect_fail "a track longer than max_frames" "frames, more than [data] max_frames = 2" \
  "$PLUMB" train "$T/seq.ini" --set run.name=long --set data.max_frames=2
expect_fail "tta with image sequences" "[augment] tta = flip with image sequences" \
  "$PLUMB" train "$T/seq.ini" --set run.name=tta --set augment.tta=flip
expect_fail "track_column with dataset = npy" "[data] track_column = track needs dataset = csv" \
  "$PLUMB" train "$T/seq.ini" --set run.name=npy --set data.dataset=npy --set data.train_targets=x.npy

# A missing frame: its track is left out and named, the run goes on.
rm "$D/img/train_3_1.png"
out=$("$PLUMB" train "$T/seq.ini" --set run.name=miss --set train.epochs=1 --set loader.max_bad_fraction=0.1 2>&1)
rc=$?
check "a missing frame file: the run exits 0 (got $rc)" test $rc -eq 0
check "the track is skipped, the frame named" grep -q "image skipped: frame 1 of 2: .*train_3_1.png" <<<"$out"
check "one bad track in the epoch" grep -q "bad_images_skipped=1 " <<<"$out"
finish
