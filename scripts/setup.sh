#!/usr/bin/env bash
# setup.sh: installs what plumb needs on a Debian 12 machine (when missing) and builds it.
#   bash scripts/setup.sh            build dependencies + Fashion-MNIST, then build/ (Release)
#   bash scripts/setup.sh --torch    also Debian's python3-torch (fixture generators, benchmarks)
#   bash scripts/setup.sh --slurm    also Debian's slurm daemons and clients and munge (the local
#                                    cluster of scripts/slurm/cluster.sh, test_slurm; test.sh
#                                    passes it; nothing is started or configured system-wide)
# The flags combine.
# Env: BUILD_DIR (default build), CMAKE_ARGS (extra configure flags, e.g. -DPLUMB_CUDA=OFF).
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(build-essential cmake pkg-config libinih-dev libstb-dev zlib1g-dev libopenblas-dev
      libturbojpeg0-dev dataset-fashion-mnist
      darknet python3-skimage valgrind   # real JPEG/PNG test images; the pool leak test
      python3-sklearn                    # the metric cross-checks (test_imagenet9_configs)
      python3-matplotlib python3-numpy   # scripts/plot.py, its test (test_plot)
      python3-pil)                       # the synthetic multi-label JPEG set (make_multilabel_jpegs.py)
for arg in "$@"; do
  case $arg in
    --torch) pkgs+=(python3-torch python3-torchvision) ;;
    --slurm) pkgs+=(slurmctld slurmd slurm-client munge) ;;
    *) echo "setup.sh: unknown option $arg (--torch, --slurm)" >&2; exit 2 ;;
  esac
done

source scripts/install_pkgs.sh
pb_install_pkgs "${pkgs[@]}"

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built $BUILD_DIR/plumb"
