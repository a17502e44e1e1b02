#!/usr/bin/env bash
# gpu-models.sh: the GPU checks and benchmarks of the model zoo (issue 4), for the GPU machine:
#   bash scripts/gpu-models.sh [BATCH]     (carry .gpu-deps; writes $OUT/models.txt if $OUT is set)
# Builds build-gpu (sm_90) like scripts/gpu-check.sh, runs test_cuda_resnet_golden and the other
# GPU tests, then scripts/bench/bench_models.py (plumb vs PyTorch, train and infer, resnet50,
# seresnet50, resnet18 at batch BATCH, default 256) and checks timm's parameter counts.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build-gpu
BATCH=${1:-256}
if ! pkg-config --exists inih stb zlib 2>/dev/null; then
  D=$B/deps
  mkdir -p "$D"
  for f in "$ROOT"/.gpu-deps/*.deb; do [[ -e $f ]] && dpkg -x "$f" "$D"; done
  for pc in "$D"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc "$D"/usr/share/pkgconfig/*.pc; do
    [[ -e $pc ]] && sed -i "s|^prefix=.*|prefix=$D/usr|" "$pc"
  done
  export PKG_CONFIG_PATH=$D/usr/lib/x86_64-linux-gnu/pkgconfig:$D/usr/share/pkgconfig:${PKG_CONFIG_PATH:-}
  export LD_LIBRARY_PATH=$D/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  cp -n "$D"/lib/x86_64-linux-gnu/libz.so* "$D"/usr/lib/x86_64-linux-gnu/ 2>/dev/null || true
fi
CUDNN=$(python3 -c "import nvidia.cudnn, os; print(os.path.dirname(nvidia.cudnn.__file__))" 2>/dev/null || true)
[[ -n $CUDNN ]] && export LD_LIBRARY_PATH=$CUDNN/lib:${LD_LIBRARY_PATH:-}
GEN=""
command -v ninja >/dev/null && GEN="-G Ninja"
# shellcheck disable=SC2086
cmake -S . -B "$B" $GEN -DCMAKE_BUILD_TYPE=Release -DPLUMB_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 \
  ${CUDNN:+-DCUDNN_ROOT=$CUDNN} > /tmp/models-configure.txt 2>&1 && cmake --build "$B" -j16 > /tmp/models-build.txt 2>&1 ||
  { tail -30 /tmp/models-build.txt /tmp/models-configure.txt; exit 1; }
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  "$B/test_cuda_resnet_golden"
  (cd "$B" && ctest -R "test_cuda|test_resnet" --output-on-failure -j4) | tail -25
  python3 -c "
import timm
for n in ['resnet50','seresnet50','seresnet101','seresnet152']:
    m = timm.create_model(n, pretrained=False)
    print('timm', n, sum(p.numel() for p in m.parameters()))"
  for a in resnet50 seresnet50 seresnet101 seresnet152; do echo -n "plumb $a "; "$B/plumb" info --model $a | tail -1; done
  python3 scripts/bench/bench_models.py --device cuda --batch "$BATCH" --plumb "$B/plumb"
} 2>&1 | tee "${OUT:-/tmp}/models.txt"
