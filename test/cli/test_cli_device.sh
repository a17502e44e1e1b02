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
out=$("$PLUMB" train "$T/tiny.ini" --set train.max_steps=1 2>&1)
check "device auto names the device it chose" grep -q "device auto" <<<"$out"
finish
