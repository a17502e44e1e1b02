# Several named models in one run ([model.f], [model.g], [method]): ReBias trains f and g, logs
# each model's loss and accuracy and the HSIC value, checkpoints every model (each its own
# PyTorch-style file), resumes bit for bit (N steps + resume + N steps = 2N steps, both models
# and both optimizers), plumb eval reproduces both models' test figures; bad configs are clear
# errors naming the file and line, and write nothing.
source "$(dirname "$0")/lib.sh"
need_data
cat > "$T/rb.ini" <<INI
[run]
name = rb
out_dir = $T/runs
seed = 5
device = cpu
threads = 2
log_interval = 1
[data]
dir = $DATA
bias = colour
rho = 0.99
limit_train = 256
limit_test = 128
[model]
arch = simpleconvnet
num_classes = 10
[model.f]
kernel_size = 3
[model.g]
kernel_size = 1
[train]
epochs = 2
batch_size = 32
[optim]
name = adam
lr = 0.001
weight_decay = 1e-4
[method]
name = rebias
INI
out=$("$PLUMB" train "$T/rb.ini" 2>&1); rc=$?
echo "$out" | grep -E "done" | cut -c1-200 | sed 's/^/    /'
check "rebias run exits 0" test $rc -eq 0
check "progress lines carry f's and g's loss and accuracy and the HSIC value" \
  grep -qE "f: loss [0-9.]+ acc [0-9.]+, g: loss [0-9.]+ acc [0-9.]+, hsic: -?[0-9.]+" <<<"$out"
R=$T/runs/rb
check "metrics.csv has columns per model and the HSIC value" \
  grep -q "^epoch,step,lr,train_loss,f_train_loss,f_train_acc,g_train_loss,g_train_acc,hsic_train_loss," "$R/metrics.csv"
ck=$R/checkpoints/step-0000000016
for f in "$ck.safetensors" "$ck.state.safetensors" "$ck.g.safetensors" "$ck.g.state.safetensors"; do
  check "checkpoint file $(basename "$f")" test -s "$f"
done
check "g's file holds g's tensors under PyTorch names" grep -qa "extracter.0.weight" "$ck.g.safetensors"
ev=$("$PLUMB" eval "$T/rb.ini" --checkpoint "$ck.safetensors" 2>&1)
for m in f g; do
  a=$(grep "epoch 2/2 done" <<<"$out" | grep -oE "test_${m}_acc=[0-9.]+")
  check "plumb eval reproduces $m's test accuracy ($a)" grep -q "$a" <<<"$ev"
done

evg=$("$PLUMB" eval "$T/rb.ini" --checkpoint "$ck.safetensors" --model g 2>&1)
check "plumb eval --model g gives g's figures only" bash -c "grep -q 'test_g_acc=' <<<'$evg' && ! grep -q 'test_f_acc=' <<<'$evg'"
expect_fail "plumb eval --model of no model" "--model h: the config has no model of that name" \
  "$PLUMB" eval "$T/rb.ini" --checkpoint "$ck.safetensors" --model h

ini=$("$PLUMB" train "$T/rb.ini" --set run.name=ini --set model.g.init_from="$ck.g.safetensors" --set train.max_steps=1 2>&1)
check "[model.g] init_from loads g from another run's g file" \
  grep -qE "^g: init_from .*step-0000000016.g.safetensors: loaded [0-9]+ tensors" <<<"$ini"
expect_fail "[model.g] init_from of f's file names the misfit" "[model.g] init_from" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e10 --set model.g.init_from="$ck.safetensors"

# exact resume with two models: 4 steps, stop, resume to 12 = 12 straight
"$PLUMB" train "$T/rb.ini" --set run.name=split --set train.max_steps=5 > "$T/s1.log" 2>&1
"$PLUMB" train "$T/rb.ini" --set run.name=split > "$T/s2.log" 2>&1
check "second half resumed" grep -q "resumed from" "$T/s2.log"
S=$T/runs/split/checkpoints/step-0000000016
for suf in safetensors state.safetensors g.safetensors g.state.safetensors; do
  check "resume bit-identical: $suf" cmp "$ck.$suf" "$S.$suf"
done
check "metrics.csv rows identical after resume (loss and accuracy columns)" \
  diff <(cut -d, -f1-19 "$R/metrics.csv") <(cut -d, -f1-19 "$T/runs/split/metrics.csv")
"$PLUMB" train "$T/rb.ini" --set run.name=lam --set method.lambda_f=0 --set method.lambda_g=0 --set train.max_steps=3 > /dev/null 2>&1
check "lambda 0 gives another f (the penalty acts; the comparison can fail)" \
  bash -c "! cmp -s $T/runs/lam/checkpoints/step-0000000003.safetensors $T/runs/split/checkpoints/step-0000000005.safetensors"

# the median sigma (as released: over the first quarter of the epoch's batches, computed again
# every epoch here), and an exact resume with it
MED="--set method.sigma_x=median --set method.sigma_y=median --set method.update_sigma_per_epoch=true"
"$PLUMB" train "$T/rb.ini" --set run.name=med $MED > "$T/m.log" 2>&1
check "median sigma run exits 0" test $? -eq 0
check "median sigma computed before each epoch and logged" \
  test "$(grep -cE "median sigma over [0-9]+ distances: sigma_x = [0-9.e+-]+ \(f\), sigma_y = [0-9.e+-]+ \(g\) \(3 batches\)" "$T/m.log")" -eq 2
"$PLUMB" train "$T/rb.ini" --set run.name=med2 $MED --set train.max_steps=5 > /dev/null 2>&1
"$PLUMB" train "$T/rb.ini" --set run.name=med2 $MED > "$T/m2.log" 2>&1
for suf in safetensors state.safetensors g.safetensors g.state.safetensors; do
  check "median sigma: resume bit-identical ($suf)" cmp "$T/runs/med/checkpoints/step-0000000016.$suf" \
    "$T/runs/med2/checkpoints/step-0000000016.$suf"
done

# vanilla trains f only; g keeps its initialisation
"$PLUMB" train "$T/rb.ini" --set run.name=van --set method.name=vanilla --set train.max_steps=2 > "$T/v.log" 2>&1
check "vanilla exits 0" test $? -eq 0
"$PLUMB" train "$T/rb.ini" --set run.name=van0 --set method.name=vanilla --set train.max_steps=1 > /dev/null 2>&1
check "vanilla leaves g untouched" cmp "$T/runs/van/checkpoints/step-0000000002.g.safetensors" \
  "$T/runs/van0/checkpoints/step-0000000001.g.safetensors"
"$PLUMB" train "$T/rb.ini" --set run.name=bia --set method.name=biased --set train.max_steps=2 > "$T/b.log" 2>&1
check "biased exits 0 and reports g" grep -q "g: loss" "$T/b.log"
check "biased: g is the reported model (step-N.safetensors), f beside it" \
  test -s "$T/runs/bia/checkpoints/step-0000000002.f.safetensors"

# test variants and the best epoch by a column
out=$("$PLUMB" train "$T/rb.ini" --set run.name=sel --set data.test_variants=biased,unbiased \
  --set run.select=f_unbiased_acc 2>&1); rc=$?
check "a run with test variants and select exits 0" test $rc -eq 0
check "epoch lines carry each model's biased and unbiased accuracy" \
  grep -qE "biased_f_acc=[0-9.]+ .*biased_g_acc=[0-9.]+ .*unbiased_f_acc=[0-9.]+ .*unbiased_g_acc=" <<<"$out"
check "metrics.csv has the variants' columns" grep -q "f_biased_acc,.*f_unbiased_acc" "$T/runs/sel/metrics.csv"
check "the log says which epoch is best" grep -qE "best so far by \[run\] select = f_unbiased_acc: epoch [12]" <<<"$out"
check "best.safetensors and its companion written" test -s "$T/runs/sel/checkpoints/best.safetensors" -a \
  -s "$T/runs/sel/checkpoints/best.g.safetensors"
bestep=$(grep -oE "select = f_unbiased_acc: epoch [0-9]+" <<<"$out" | tail -1 | awk '{print $NF}')
col=$(head -1 "$T/runs/sel/metrics.csv" | tr , '\n' | grep -nx f_unbiased_acc | cut -d: -f1)
bestcsv=$(awk -F, -v c="$col" 'NR > 1 && (best == "" || $c > best) {best = $c; e = $1} END {print e}' "$T/runs/sel/metrics.csv")
check "the best epoch is the metrics.csv row with the highest f_unbiased_acc ($bestep = $bestcsv)" test "$bestep" = "$bestcsv"
expect_fail "select names no column" "[run] select = f_unbiased_accc is not a column" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e8 --set data.test_variants=biased,unbiased --set run.select=f_unbiased_accc
expect_fail "an unknown test variant" "[data] test_variants = tilted: each variant is biased or unbiased" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e9 --set data.test_variants=tilted

# the shipped configs (configs/rebias/) train, shortened
for m in vanilla biased rebias; do
  "$PLUMB" train "$PLUMB_SRC/configs/rebias/colour_$m.ini" --set run.out_dir="$T/runs" --set data.dir="$DATA" \
    --set data.limit_train=96 --set data.limit_test=64 --set train.batch_size=32 --set train.epochs=1 \
    --set run.device=cpu --set run.threads=2 > "$T/cfg_$m.log" 2>&1
  check "configs/rebias/colour_$m.ini trains (shortened)" grep -q "done: 1 epochs" "$T/cfg_$m.log"
done

# bad configs
tiny_config
expect_fail "named models without a method" "named models are trained by a method" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e1 --set method.name=plain
expect_fail "a method without named models" "declare them as [model.f]" \
  "$PLUMB" train "$T/tiny.ini" --set run.name=e2 --set method.name=rebias
printf '[optim.h]\nlr = 0.1\n' >> "$T/rb_h.ini"
cat "$T/rb.ini" "$T/rb_h.ini" > "$T/rb2.ini"
expect_fail "[optim.NAME] without its model" "rb2.ini:30: [optim.h]: no [model.h] section" \
  "$PLUMB" train "$T/rb2.ini" --set run.name=e3
printf '[model.g]\nfrozen = true\n[optim.g]\nlr = 0.1\n' > "$T/fz.ini"
cat "$T/rb.ini" "$T/fz.ini" > "$T/rb3.ini"
expect_fail "a frozen model with an optimizer section" "rb3.ini:32: [optim.g] configures the optimizer of model g, which is frozen" \
  "$PLUMB" train "$T/rb3.ini" --set run.name=e4
expect_fail "g names no model" "no [model.h] section declares model 'h'" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e5 --set method.g=h
expect_fail "a bad sigma" "[method] sigma_x = wide: expected a number > 0, median or dimension" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e6 --set method.sigma_x=wide
expect_fail "accumulation with rebias" "accum_steps = 2: [method] name = rebias steps every model every batch" \
  "$PLUMB" train "$T/rb.ini" --set run.name=e7 --set train.accum_steps=2
check "no run folder was written by the failed configs" bash -c "! ls -d $T/runs/e[0-9]* 2>/dev/null"
finish
