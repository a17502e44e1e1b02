# plumb info works; device = cuda without a usable GPU is a clear error; auto says which device.
source "$(dirname "$0")/lib.sh"
need_data
out=$("$PLUMB" info 2>&1); rc=$?
check "plumb info exits 0" test $rc -eq 0
echo "$out" | sed 's/^/    /'
check "plumb info names the compiler" grep -q "compiler:" <<<"$out"
ngpu=$(sed -n 's/^GPUs: \([0-9]*\).*/\1/p' <<<"$out")
tiny_config
if [[ "$ngpu" == "0" ]]; then
  expect_fail "device = cuda without GPU" "no GPU" "$PLUMB" train "$T/tiny.ini" --set run.device=cuda
  expect_fail "device = cuda:3 without GPU" "no GPU" "$PLUMB" train "$T/tiny.ini" --set run.device=cuda:3
fi
out=$("$PLUMB" train "$T/tiny.ini" --set run.device=auto --set train.max_steps=1 2>&1)
check "device auto names the device it chose" grep -q "device auto" <<<"$out"
if [[ "$ngpu" != "0" ]]; then
  # On a GPU machine: the GPU trains the tiny config, and eval of its checkpoint on the CPU
  # gives the same accuracy within a few test images.
  out=$("$PLUMB" train "$T/tiny.ini" --set run.device=cuda --set run.name=gpu 2>&1); rc=$?
  echo "$out" | grep -E "^(plumb|epoch [0-9]+/[0-9]+ done)" | sed 's/^/    /'
  check "training on the GPU exits 0" test $rc -eq 0
  ck=$(ls "$T"/runs/gpu/checkpoints/step-*[0-9].safetensors | tail -1)
  g=$("$PLUMB" eval "$T/tiny.ini" --set run.device=cuda --checkpoint "$ck" | grep -oE "test_acc=[0-9.]+" | cut -d= -f2)
  c=$("$PLUMB" eval "$T/tiny.ini" --set run.device=cpu --checkpoint "$ck" | grep -oE "test_acc=[0-9.]+" | cut -d= -f2)
  echo "    GPU checkpoint evaluated on GPU $g, on CPU $c"
  check "GPU and CPU evaluation of one checkpoint agree (within 2 of 256 images)" \
    awk -v a="$g" -v b="$c" 'BEGIN{d=a-b; if (d<0) d=-d; exit !(d <= 2/256 + 1e-9)}'
fi
finish
