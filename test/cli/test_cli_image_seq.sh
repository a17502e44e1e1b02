# Image-sequence manifests end to end ([data] track_column): a generated CSV of one row per
# frame (tracks of 2-4 PNG frames, two classes by brightness, rows shuffled) trains an
# `arch = mlp` (it flattens any input: here [N, T * c, h, w]) for 2 epochs with flip, exit 0,
# and its parameter count shows the model input T * c x h x w; eval reproduces the final
# test accuracy. Through the CLI, each bad input is a clear error: a duplicate frame (file:line),
# a track with two labels, a track longer than max_frames, tta with sequences, track_column
# with dataset = npy; a missing frame file is one bad track, named, and the run goes on. Then the
# LSTM with a frame encoder over the same data (learns, exact resume, eval, embed, bad configs).
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

# The frame encoder ([model] frame_encoder): a simplecnn encodes every valid frame, an LSTM reads
# the frame features, trained end to end; it learns; resume is bit-exact (batch norm inside the
# encoder, shuffled tracks, flips); eval and embed run it; tensors named encoder.*.
FE=(--set model.arch=lstm --set model.frame_encoder=simplecnn --set model.channels=4 --set model.lstm_hidden=8
    --set optim.name=adam --set optim.lr=0.02)
out=$("$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe --set train.epochs=4 2>&1)
rc=$?
check "lstm with a simplecnn frame encoder trains, exit 0 (got $rc)" test $rc -eq 0
grep -E "data:|epoch 4/4 done" <<<"$out" | sed 's/^/    /' | cut -c1-160
acc=$(grep "epoch 4/4 done" <<<"$out" | grep -oE "test_acc=[0-9.]+" | cut -d= -f2)
check "the frame-encoder model learns: test accuracy $acc >= 0.9 (dark vs bright tracks)" awk -v a="${acc:-0}" 'BEGIN { exit !(a >= 0.9) }'
ck=$(ls "$T"/runs/fe/checkpoints/step-*[0-9].safetensors | tail -1)
check "the checkpoint names the encoder's tensors (encoder.features.1.running_mean)" grep -q -a "encoder.features.1.running_mean" "$ck"
acc_eval=$("$PLUMB" eval "$T/seq.ini" "${FE[@]}" --checkpoint "$ck" 2>&1 | grep -oE "test_acc=[0-9.]+" | cut -d= -f2)
check "eval of the frame-encoder model reproduces its test accuracy ($acc vs $acc_eval)" test -n "$acc" -a "$acc" = "$acc_eval"
"$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_a --set train.max_steps=9 > /dev/null 2>&1
"$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_b --set train.max_steps=4 > /dev/null 2>&1
"$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_b --set train.max_steps=9 > /dev/null 2>&1
A=$T/runs/fe_a/checkpoints/step-0000000009 B=$T/runs/fe_b/checkpoints/step-0000000009
check "frame encoder: bit-identical after a resume in the middle of epoch 2" cmp "$A.safetensors" "$B.safetensors"
check "frame encoder: optimizer state bit-identical after resume" cmp "$A.state.safetensors" "$B.state.safetensors"
"$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_emb --set train.epochs=1 --set model.embedding_dim=4 \
  --set train.loss=triplet --set data.sampler=pk --set data.pk_identities=2 --set data.pk_samples=4 > "$T/fe_emb.log" 2>&1
check "a frame-encoder embedding trains with the triplet loss (classes as identities)" grep -q "test: verification cosine" "$T/fe_emb.log"
ck=$(ls "$T"/runs/fe_emb/checkpoints/step-*[0-9].safetensors | tail -1)
"$PLUMB" embed "$T/seq.ini" "${FE[@]}" --set model.embedding_dim=4 --set train.loss=triplet --checkpoint "$ck" \
  --out "$T/fe.npy" > "$T/fe_embed.log" 2>&1
check "plumb embed of the frame-encoder model: 12 tracks x 4" grep -q "12 test samples embedded in 4 dimensions" "$T/fe_embed.log"
# On a GPU machine: the frame encoder on CUDA (cuDNN convolutions over the packed frames, device
# copies for packing) trains the same model as the CPU: test accuracy equal after 4 epochs and the
# final training loss within 1e-3 relative (tf32 off).
ngpu=$("$PLUMB" info 2>&1 | sed -n 's/^GPUs: \([0-9]*\).*/\1/p')
if [[ -n "$ngpu" && "$ngpu" != "0" ]]; then
  for dev in cpu cuda; do
    "$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_$dev --set run.device=$dev --set run.tf32=false \
      --set train.epochs=4 > "$T/fe_$dev.log" 2>&1
    check "frame encoder on $dev exits 0" test $? -eq 0
  done
  lc=$(grep "epoch 4/4 done" "$T/fe_cpu.log" | grep -oE "train_loss=[0-9.]+" | cut -d= -f2)
  lg=$(grep "epoch 4/4 done" "$T/fe_cuda.log" | grep -oE "train_loss=[0-9.]+" | cut -d= -f2)
  echo "    final train_loss cpu $lc cuda $lg"
  check "GPU and CPU frame-encoder training agree (train_loss within 1e-3 rel.)" \
    awk -v a="${lc:-1}" -v b="${lg:-9}" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-3 * a + 1e-4) }'
fi

python3 - "$D" <<'PY'
import struct, sys
def npy(path, descr, shape, data):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (descr, ", ".join(map(str, shape)) + ("," if len(shape) == 1 else ""))
    h += " " * (63 - (10 + len(h)) % 64) + "\n"
    open(path, "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h.encode() + data)
npy(sys.argv[1] + "/x.npy", "<f4", (6, 3, 5), bytes(6 * 3 * 5 * 4))
npy(sys.argv[1] + "/y.npy", "<i8", (6,), struct.pack("<6q", 0, 0, 1, 1, 0, 1))
PY
expect_fail "frame_encoder on feature sequences" "reads image sequences" \
  "$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_npy --set data.dataset=npy --set data.track_column= \
  --set data.train_path=x.npy --set data.test_path=x.npy --set data.train_targets=y.npy --set data.test_targets=y.npy \
  --set augment.size=0 --set augment.flip=0
expect_fail "dropout inside the frame encoder" "dropout inside the frame encoder is not supported" \
  "$PLUMB" train "$T/seq.ini" "${FE[@]}" --set run.name=fe_drop --set model.dropout=0.2

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
