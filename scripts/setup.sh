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
      python3-pil                        # the synthetic multi-label JPEG set (make_multilabel_jpegs.py)
      python3-pip                        # tensorboard from PyPI, below
      openmpi-bin libopenmpi-dev)        # data-parallel ranks (engine/dist/, test_cli_dist)
for arg in "$@"; do
  case $arg in
    --torch) pkgs+=(python3-torch python3-torchvision) ;;
    --slurm) pkgs+=(slurmctld slurmd slurm-client munge) ;;
    *) echo "setup.sh: unknown option $arg (--torch, --slurm)" >&2; exit 2 ;;
  esac
done

source scripts/install_pkgs.sh
pb_install_pkgs "${pkgs[@]}"

# TensorBoard's own event-file reader for test_cli_tensorboard ([log] tensorboard). Debian has no
# package: pip installs it from PyPI into the tests' Python (PYTHON, default Debian's
# /usr/bin/python3), system-wide as root (CI), else --user; --break-system-packages because
# Debian 12 marks its Python externally managed (PEP 668) and tensorboard's dependencies do not
# clash with Debian's python3-* packages. Skipped when it imports already; a failed install is a
# warning here and a failing test_cli_tensorboard later.
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import tensorboard" 2>/dev/null; then
  pip_flags=(-q --disable-pip-version-check)
  "$PY" -m pip install --help 2>/dev/null | grep -q -- --break-system-packages && pip_flags+=(--break-system-packages)
  [[ $(id -u) -ne 0 ]] && pip_flags+=(--user)
  echo "setup: installing tensorboard for $PY (pip)"
  "$PY" -m pip install "${pip_flags[@]}" tensorboard ||
    echo "setup: warning: could not install tensorboard; test_cli_tensorboard will fail" >&2
fi

BUILD_DIR=${BUILD_DIR:-build}
# shellcheck disable=SC2086
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
echo "setup: built $BUILD_DIR/plumb"
