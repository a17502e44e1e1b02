# plumb bench --config: a config's training step on synthetic data runs for any config (the
# ReBias min-max over [model.f] / [model.g], a plain one-model config) and prints its figures in
# the format scripts/bench/bench_rebias.sh reads; it needs no dataset and writes no run folder;
# bad input is a clear error. The format is checked, never the speed.
source "$(dirname "$0")/lib.sh"
cat > "$T/rb.ini" <<INI
[run]
name = rb
out_dir = $T/runs
seed = 5
device = auto
threads = 2
[data]
dir = $T/no-such-folder
[model]
arch = simpleconvnet
num_classes = 10
in_channels = 3
input_size = 12
[model.f]
kernel_size = 3
[model.g]
kernel_size = 1
[train]
batch_size = 8
[optim]
name = adam
lr = 0.001
weight_decay = 1e-4
[method]
name = rebias
INI
out=$("$PLUMB" bench --config "$T/rb.ini" --steps 2 --warmup 1 2>&1); rc=$?
echo "$out" | sed 's/^/    /'
check "rebias bench exits 0 without a dataset" test $rc -eq 0
check "names the method, the models and the trainer" \
  grep -qE "method rebias, models f simpleconvnet, g simpleconvnet \(trainer rebias\)" <<<"$out"
check "states batch, input shape and steps" \
  grep -qE "^batch 8, input 3x12x12 \(synthetic, on the device\), float32 NCHW, tf32 (n/a|on|off), 2 timed steps after 1 warm-up$" <<<"$out"
check "train line: images/s, steps/s, ms per step" \
  grep -qE "^train: [0-9]+\.[0-9] images/s, [0-9]+\.[0-9]{3} steps/s \([0-9]+\.[0-9]{2} ms per step\)$" <<<"$out"
check "finite mean losses of f, g and the HSIC over the 3 steps" \
  grep -qE "^mean loss over the 3 steps: f [0-9.e+-]+, g [0-9.e+-]+, hsic -?[0-9.e+-]+$" <<<"$out"
for m in f g; do
  check "planned memory of $m" grep -qE "^  $m: planned memory \(training, batch 8\): [0-9.]+ MiB" <<<"$out"
done
check "the process's or the device's memory" grep -qE "^  (peak RSS so far|plumb's device allocations): [^ ]" <<<"$out"
check "no run folder written" test ! -e "$T/runs"

out=$("$PLUMB" bench --config "$T/rb.ini" --batch 6 --steps 1 --warmup 0 --set method.name=vanilla --set run.device=cpu 2>&1)
check "--batch sets the batch; vanilla runs" grep -qE "^batch 6, input 3x12x12 .* 1 timed steps after 0 warm-up$" <<<"$out"

# a plain one-model config, input_size left at its default: a note says so
cat > "$T/plain.ini" <<INI
[run]
device = cpu
threads = 2
[model]
arch = simplecnn
channels = 4
[train]
batch_size = 2
INI
out=$("$PLUMB" bench --config "$T/plain.ini" --steps 1 --warmup 0 2>&1); rc=$?
check "plain config exits 0" test $rc -eq 0
check "plain: one model, plain trainer" grep -qE "method plain, model simplecnn \(trainer plain\)" <<<"$out"
check "plain: the default input size is noted" grep -q "note: \[model\] input_size is not set: the default 224" <<<"$out"
check "plain: input 3x224x224" grep -qE "^batch 2, input 3x224x224 " <<<"$out"
check "plain: train line" grep -qE "^train: [0-9.]+ images/s, [0-9.]+ steps/s" <<<"$out"
check "plain: its single loss" grep -qE "^mean loss over the 1 steps: loss [0-9.e+-]+$" <<<"$out"

# bad input
expect_fail "--steps 0" "--steps must be >= 1" "$PLUMB" bench --config "$T/rb.ini" --steps 0
expect_fail "a missing config" "no-such.ini" "$PLUMB" bench --config "$T/no-such.ini"
expect_fail "an unknown key" "unknown key" "$PLUMB" bench --config "$T/rb.ini" --set model.kernal_size=3
expect_fail "a bad --batch" "--batch x" "$PLUMB" bench --config "$T/rb.ini" --batch x
expect_fail "a method without named models" "declare them as [model.f]" \
  "$PLUMB" bench --config "$T/plain.ini" --set method.name=rebias
expect_fail "rebias with a batch too small for the unbiased HSIC" "batch_size = 2" \
  "$PLUMB" bench --config "$T/rb.ini" --batch 2
finish
