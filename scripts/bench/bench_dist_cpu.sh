#!/usr/bin/env bash
# bench_dist_cpu.sh: data-parallel training on the CPU, plumb (MPI ranks, `plumb train --nproc N`)
# beside PyTorch (DistributedDataParallel over gloo, scripts/bench/dist_torch.py): the quickstart
# model (simplecnn 16,32 with batch norm, Fashion-MNIST, global batch 128) for N = 1, 2, ... ranks
# of THREADS threads each; images per second of the training epoch, and the cost of the gradient
# all-reduce: plumb's own report (time rank 0 spends in it per step and its share of the training
# loop) and, for PyTorch, one all-reduce of the same size timed alone.
#
#   bash scripts/bench/bench_dist_cpu.sh [RANKS (1,2)] [THREADS (1)] [LIMIT (8192)]
# Env: PLUMB (default build/plumb), PYTHON (default /usr/bin/python3).
set -uo pipefail
cd "$(dirname "$0")/../.."
RANKS=${1:-1,2} THREADS=${2:-1} LIMIT=${3:-8192}
PLUMB=${PLUMB:-build/plumb} PY=${PYTHON:-/usr/bin/python3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
T=$(mktemp -d /tmp/bench-dist.XXXXXX)
trap 'rm -rf "$T"' EXIT
echo "bench_dist_cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); commit $(git rev-parse --short HEAD 2> /dev/null); $(date -u +%F)"
printf "%-6s %-8s %12s %12s %16s %10s\n" ranks threads plumb_img/s torch_img/s plumb_allreduce torch_ar_ms
for n in ${RANKS//,/ }; do
  "$PLUMB" train configs/quickstart.ini --nproc "$n" --set run.out_dir="$T" --set run.name=r$n --set run.device=cpu \
    --set run.threads="$THREADS" --set loader.workers=1 --set data.limit_train="$LIMIT" --set data.limit_test=128 \
    --set train.epochs=1 --set train.batch_size=128 --set run.log_interval=100000 > "$T/p$n.log" 2>&1 ||
    { tail -5 "$T/p$n.log"; continue; }
  ips=$(grep -oE "epoch 1/1 done in [0-9.]+s \([0-9]+ img/s" "$T/p$n.log" | grep -oE "[0-9]+ img/s" | cut -d' ' -f1)
  ar=$(grep -oE "[0-9.]+ ms each on rank 0: [0-9.]+%" "$T/p$n.log" | sed 's/ each on rank 0:/ /')
  tr=$("$PY" scripts/bench/dist_torch.py --ranks "$n" --threads "$THREADS" --batch 128 --limit "$LIMIT" 2> "$T/t$n.err")
  tips=$(grep -oE "torch_images_per_second=[0-9.]+" <<< "$tr" | cut -d= -f2)
  tar=$(grep -oE "torch_allreduce_ms=[0-9.]+" <<< "$tr" | cut -d= -f2)
  printf "%-6s %-8s %12s %12s %16s %10s\n" "$n" "$THREADS" "${ips:-?}" "${tips:-?}" "${ar:--}" "${tar:-?}"
done
