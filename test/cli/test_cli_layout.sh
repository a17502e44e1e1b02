# [run] layout = nhwc (channels last) end to end on the CPU reference: the tiny Fashion-MNIST config
# (simplecnn: its convolutions, batch norms and max pools run channels last and its flatten
# permutes back to NCHW before fc) and a cifar_resnet of depth 8 on colour-biased images (residual
# blocks, a 3-channel input: the to_nhwc entry layer), against the same runs in nchw.
#   - both train; the log names the layout; test accuracy within 0.03 of nchw's;
#   - the checkpoints hold the same tensors (names, shapes, dtypes): PyTorch's layout, whatever
#     the run's; plumb eval of the nhwc checkpoint in nchw (and of the nchw one in nhwc) gives the
#     training run's test accuracy within 1/256 (one test image: the sums run in another order);
#   - a run stopped by max_steps in nhwc resumes in nchw;
#   - bf16 with nhwc trains;
#   - errors: an unknown layout names the key and its choices.
source "$(dirname "$0")/lib.sh"
need_data
PY=${PYTHON:-/usr/bin/python3}
tiny_config
CK=$T/runs
last_ckpt() { ls "$CK/$1"/checkpoints/step-*[0-9].safetensors | tail -1; }
acc_of() { grep -o 'test_acc=[0-9.]*' "$1" | tail -1 | cut -d= -f2; }
near() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; exit !(d <= t && d >= -t && a > 0.3) }'; }
same_names() { # A B: the same tensor names, shapes and dtypes
  "$PY" - "$1" "$2" <<'PYEOF'
import json, struct, sys
def head(p):
    b = open(p, "rb").read()
    h = json.loads(b[8:8 + struct.unpack("<Q", b[:8])[0]])
    h.pop("__metadata__", None)
    return {k: (v["dtype"], v["shape"]) for k, v in h.items()}
a, b = head(sys.argv[1]), head(sys.argv[2])
print(f"    {len(a)} tensors each; conv weights: {[(k, v[1]) for k, v in a.items() if k.endswith('0.weight')][:1]}")
sys.exit(0 if a == b else 1)
PYEOF
}

for arch in simplecnn cifar_resnet; do
  sets=(--set model.arch=$arch)
  # colour-biased (3-channel) images for the resnet: its input goes through the to_nhwc entry layer
  [[ $arch == cifar_resnet ]] && sets+=(--set model.depth=8 --set data.bias=colour --set data.test_bias=biased)
  "$PLUMB" train "$T/tiny.ini" --set run.name=$arch-c "${sets[@]}" > "$T/$arch-c.log" 2>&1
  check "$arch trains in nchw" test $? -eq 0
  "$PLUMB" train "$T/tiny.ini" --set run.name=$arch-h --set run.layout=nhwc "${sets[@]}" > "$T/$arch-h.log" 2>&1
  check "$arch trains in nhwc" test $? -eq 0
  check "the log names the layout" grep -q "layout nhwc" "$T/$arch-h.log"
  ac=$(acc_of "$T/$arch-c.log") ah=$(acc_of "$T/$arch-h.log")
  echo "    $arch test accuracy: nchw $ac, nhwc $ah"
  check "$arch: nhwc test accuracy within 0.03 of nchw's" near "$ac" "$ah" 0.03
  ckc=$(last_ckpt $arch-c) ckh=$(last_ckpt $arch-h)
  check "$arch: the checkpoints hold the same tensors (PyTorch's layout)" same_names "$ckc" "$ckh"
  "$PLUMB" eval "$T/tiny.ini" "${sets[@]}" --set run.layout=nchw --checkpoint "$ckh" > "$T/ev-$arch-hc.log" 2>&1
  check "$arch: plumb eval in nchw of the nhwc checkpoint runs" test $? -eq 0
  "$PLUMB" eval "$T/tiny.ini" "${sets[@]}" --set run.layout=nhwc --checkpoint "$ckc" > "$T/ev-$arch-ch.log" 2>&1
  check "$arch: plumb eval in nhwc of the nchw checkpoint runs" test $? -eq 0
  ehc=$(acc_of "$T/ev-$arch-hc.log") ech=$(acc_of "$T/ev-$arch-ch.log")
  echo "    $arch eval across layouts: nhwc run $ah -> eval nchw $ehc; nchw run $ac -> eval nhwc $ech"
  check "$arch: the nhwc checkpoint evaluated in nchw gives its run's accuracy (1/256)" near "$ah" "$ehc" 0.0040
  check "$arch: the nchw checkpoint evaluated in nhwc gives its run's accuracy (1/256)" near "$ac" "$ech" 0.0040
done

"$PLUMB" train "$T/tiny.ini" --set run.name=rs --set run.layout=nhwc --set train.max_steps=12 > "$T/rs1.log" 2>&1
check "nhwc stopped at max_steps 12" test -f "$CK/rs/checkpoints/step-0000000012.safetensors"
"$PLUMB" train "$T/tiny.ini" --set run.name=rs --set run.layout=nchw > "$T/rs2.log" 2>&1
check "resumed in nchw" test $? -eq 0
check "the resumed run reached step 32" test -f "$CK/rs/checkpoints/step-0000000032.safetensors"
check "and said it resumed" grep -qi "resum" "$T/rs2.log"

"$PLUMB" train "$T/tiny.ini" --set run.name=bh --set run.layout=nhwc --set run.precision=bf16 > "$T/bh.log" 2>&1
check "bf16 with nhwc trains" test $? -eq 0
echo "    bf16 nhwc test accuracy: $(acc_of "$T/bh.log")"
check "bf16 nhwc: a sane accuracy" near "$(acc_of "$T/bh.log")" "$(acc_of "$T/simplecnn-c.log")" 0.05

expect_fail "an unknown layout" "layout" "$PLUMB" train "$T/tiny.ini" --set run.name=bad --set run.layout=chw
finish
