# Round trip: a plumb resnet18 checkpoint (small stem, 1 channel, Fashion-MNIST) loads into
# torchvision's resnet18 with load_state_dict(strict=True) and gives the same test loss and
# accuracy as plumb eval (loss within 2e-4: float32 with other summation orders); the same for
# bagnet18 into ReBias's released BagNet-18 (scripts/fixtures/bagnet_torch.py). Needs
# python3 with torch + torchvision (exit 77 otherwise; CI has none).
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then echo "skipped: no torch"; exit 77; fi
tiny_config
common=(--set model.arch=resnet18 --set model.stem=small --set train.max_steps=2 --set train.batch_size=16
        --set data.limit_test=128)
"$PLUMB" train "$T/tiny.ini" --set run.name=rt "${common[@]}" > "$T/train.txt" 2>&1
check "train resnet18 exits 0" test $? -eq 0
ck=$(ls "$T"/runs/rt/checkpoints/step-*[0-9].safetensors | tail -1)
p=$("$PLUMB" eval "$T/tiny.ini" --checkpoint "$ck" "${common[@]}" | grep -oE "test_loss=[0-9.]+ test_acc=[0-9.]+")
t=$("$PY" "$PLUMB_SRC/scripts/torch_check_checkpoint.py" "$ck" --arch resnet18 --small-stem --limit 128 --data "$DATA" 2>&1)
echo "    plumb: $p"; echo "    $t" | tail -1
pl=$(grep -oE "test_loss=[0-9.]+" <<<"$p" | cut -d= -f2); tl=$(grep -oE "test_loss=[0-9.]+" <<<"$t" | cut -d= -f2)
check "torch loads with strict=True" grep -q "strict=True" <<<"$t"
check "same test loss (|d| <= 2e-4)" awk -v a="$pl" -v b="$tl" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a!="" && d<=2e-4)}'
check "same test accuracy" test "$(grep -oE "test_acc=[0-9.]+" <<<"$p")" = "$(grep -oE "test_acc=[0-9.]+" <<<"$t")"

# bagnet18: the same round trip into ReBias's released BagNet-18 (scripts/fixtures/bagnet_torch.py)
bag=(--set model.arch=bagnet18 --set train.max_steps=2 --set train.batch_size=16 --set data.limit_test=128)
"$PLUMB" train "$T/tiny.ini" --set run.name=bag "${bag[@]}" > "$T/train_bag.txt" 2>&1
check "train bagnet18 exits 0" test $? -eq 0
ck=$(ls "$T"/runs/bag/checkpoints/step-*[0-9].safetensors | tail -1)
p=$("$PLUMB" eval "$T/tiny.ini" --checkpoint "$ck" "${bag[@]}" | grep -oE "test_loss=[0-9.]+ test_acc=[0-9.]+")
t=$("$PY" "$PLUMB_SRC/scripts/torch_check_checkpoint.py" "$ck" --arch bagnet18 --limit 128 --data "$DATA" 2>&1)
echo "    plumb: $p"; echo "    $t" | tail -1
pl=$(grep -oE "test_loss=[0-9.]+" <<<"$p" | cut -d= -f2); tl=$(grep -oE "test_loss=[0-9.]+" <<<"$t" | cut -d= -f2)
check "bagnet18: torch loads with strict=True" grep -q "strict=True" <<<"$t"
check "bagnet18: same test loss (|d| <= 2e-4)" awk -v a="$pl" -v b="$tl" 'BEGIN{d=a-b; if(d<0)d=-d; exit !(a!="" && d<=2e-4)}'
check "bagnet18: same test accuracy" test "$(grep -oE "test_acc=[0-9.]+" <<<"$p")" = "$(grep -oE "test_acc=[0-9.]+" <<<"$t")"
finish
