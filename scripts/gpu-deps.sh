#!/usr/bin/env bash
# gpu-deps.sh: run on a Debian development machine before a GPU session. Downloads the .deb
# files of the build dependencies that the GPU machine lacks (it has no package registry)
# into .gpu-deps/, which the device tool carries along (carry: [".gpu-deps"]).
# scripts/gpu-check.sh unpacks them into its build folder (never into /).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu-deps
cd .gpu-deps
apt-get download libinih-dev libinih1 libstb-dev libstb0 zlib1g-dev zlib1g libturbojpeg0-dev libturbojpeg0 2>/dev/null
ls -1 *.deb
# The Fashion-MNIST files for the GPU benchmarks (30 MB).
mkdir -p ../.gpu-data && cp /usr/share/datasets/fashion-mnist/*.gz ../.gpu-data/ 2>/dev/null || true
