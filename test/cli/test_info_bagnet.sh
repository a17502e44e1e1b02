# plumb info --model bagnet18 prints the exact parameter count of ReBias's released BagNet-18
# with 1000 classes, 1,989,288 (PyTorch's count of the released definition, recorded by
# scripts/fixtures/gen_bagnet_golden.py in test/fixtures/bagnet_golden.safetensors as
# params_1000; test_bagnet_golden checks the model against it), and its 129 checkpoint tensors.
source "$(dirname "$0")/lib.sh"
out=$("$PLUMB" info --model bagnet18 2>&1)
check "plumb info --model bagnet18 exits 0" test $? -eq 0
echo "$out" | tail -2
check "1989288 trainable parameters" grep -q "total trainable parameters: 1989288$" <<<"$out"
check "129 tensors in a checkpoint" grep -q "parameters: 1989288 trainable; 129 tensors" <<<"$out"
check "no max pool, layer4 at stride 8 (28x28 from 224)" grep -qE "^  layer4\.1 +bagblock +512x28x28" <<<"$out"
finish
