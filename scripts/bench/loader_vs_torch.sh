#!/usr/bin/env bash
# loader_vs_torch.sh [CORPUS] [WORKERS]: the loader benchmark against torchvision in one run.
# Makes the JPEG corpus when CORPUS (default /tmp/plumb-jpeg-corpus) has none, runs
#   plumb bench --loader (ImageFolder-style folder, RandomResizedCrop 224 + flip, u8 output)
# and torchvision's ImageFolder + RandomResizedCrop + flip + ToTensor + Normalize through a
# DataLoader with the same worker counts (default 1,2,..,nproc), and prints two ratios: plumb's
# uint8 batches (a GPU run normalises on the device) and plumb's normalised float batches (the
# CPU trainer's input, made on the consuming thread), each against torchvision's float batches.
# Env: PLUMB (default build/plumb), PYTHON (default python3), IMAGES (default 2000), BATCH (64).
set -euo pipefail
cd "$(dirname "$0")/../.."
CORPUS=${1:-/tmp/plumb-jpeg-corpus}
N=$(nproc)
if [[ -n "${2:-}" ]]; then W=$2; else W=1; w=2; while ((w < N)); do W="$W,$w"; w=$((w * 2)); done; ((N > 1)) && W="$W,$N"; fi
PLUMB=${PLUMB:-build/plumb}
PY=${PYTHON:-python3}
IMAGES=${IMAGES:-2000}
BATCH=${BATCH:-64}
SRCARGS=(); [[ -d .gpu-data/images ]] && SRCARGS=(--src .gpu-data/images)  # carried photographs (scripts/gpu-deps.sh)
[[ -d $CORPUS/train ]] || $PY scripts/bench/make_jpeg_corpus.py "$CORPUS" --classes 10 --per-class 50 "${SRCARGS[@]}"
cat > "$CORPUS/bench.ini" <<INI
[data]
dataset = folder
dir = $CORPUS
train_path = train
test_path = val
[augment]
size = 224
train = rrc
flip = 0.5
[train]
batch_size = $BATCH
[model]
num_classes = 10
INI
echo "== plumb bench --loader ($W workers)"
"$PLUMB" bench --loader "$CORPUS/bench.ini" --workers "$W" --images "$IMAGES" | tee /tmp/plumb-loader-bench.txt
echo "== torchvision DataLoader"
$PY scripts/bench/loader_torch.py "$CORPUS/train" --workers "$W" --images "$IMAGES" --batch "$BATCH" | tee /tmp/torch-loader-bench.txt
echo "== ratio plumb / torchvision (images/s at equal workers)"
join <(join <(awk '/^workers /{gsub(":","",$2); print $2, $3}' /tmp/plumb-loader-bench.txt | sort) \
            <(awk '/^workers-f32 /{gsub(":","",$2); print $2, $3}' /tmp/plumb-loader-bench.txt | sort)) \
     <(awk '/^torch workers/{gsub(":","",$3); print $3, $4}' /tmp/torch-loader-bench.txt | sort) |
  sort -n | awk '{printf "workers %3d: torch %9.1f | plumb uint8 %9.1f ratio %.2fx | plumb f32 %9.1f ratio %.2fx\n", $1, $4, $2, $2 / $4, $3, $3 / $4}'
