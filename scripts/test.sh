#!/usr/bin/env bash
# test.sh: the whole test suite: set-up (scripts/setup.sh), then ctest. GPU tests skip
# (exit 77) on machines without a GPU. Also checks that the CPU-only build configures and
# builds when CUDA is present (the CUDA build is the default where nvcc exists), runs the CPU
# suite a second time built with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/),
# and runs every libFuzzer harness over its corpus and ../shared/repro, then briefly
# (scripts/fuzz.sh --ci, build-fuzz/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --slurm # test_slurm runs a local slurm cluster (scripts/slurm/cluster.sh)
if command -v nvcc >/dev/null 2>&1 || [[ -x /usr/local/cuda/bin/nvcc ]]; then
  BUILD_DIR=build-cpu CMAKE_ARGS="-DPLUMB_CUDA=OFF -DPLUMB_TESTS=OFF" bash scripts/setup.sh
fi
(cd build && ctest --output-on-failure -j"$(nproc)" --timeout 900)
# Any ASan or UBSan report (leaks included) fails its test.
BUILD_DIR=build-asan CMAKE_ARGS="-DPLUMB_CUDA=OFF -DPLUMB_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo" \
  bash scripts/setup.sh
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure -j"$(nproc)" --timeout 1800)
bash scripts/fuzz.sh --ci
