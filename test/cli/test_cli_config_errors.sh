# Bad config input through the CLI: each case exits non-zero with a message naming the file,
# line, section and key, and never crashes.
source "$(dirname "$0")/lib.sh"
cd "$T"
printf '[train]\nepochs 3\n' > noeq.ini
printf '[train]\nepochs = 1\n' > good.ini
printf '[optimiser]\nlr = 0.1\n' > badsec.ini
printf '[optim]\nlr_rate = 0.1\n' > badkey.ini
printf '[train]\nbatch_size = 0\n' > bounds.ini
printf '[train]\nepochs = ten\n' > type.ini
printf '[optim]\nname = sgdd\n' > enum.ini
printf 'include = b.ini\n[run]\nseed = 1\n' > a.ini
printf 'include = a.ini\n' > b.ini
printf 'include = nothere.ini\n' > missinc.ini
{ printf '[run]\nname = '; head -c 300 /dev/zero | tr '\0' 'x'; printf '\n'; } > long.ini

expect_fail "line without =" "noeq.ini:2" "$PLUMB" train noeq.ini
expect_fail "unknown section" "optimiser" "$PLUMB" train badsec.ini
expect_fail "unknown key suggests" "lr" "$PLUMB" train badkey.ini
expect_fail "out of bounds" "batch_size" "$PLUMB" train bounds.ini
expect_fail "wrong type" "epochs" "$PLUMB" train type.ini
expect_fail "unknown enum value" "sgd" "$PLUMB" train enum.ini
expect_fail "include cycle" "a.ini" "$PLUMB" train a.ini
expect_fail "missing include" "nothere.ini" "$PLUMB" train missinc.ini
expect_fail "over-long line" "long.ini:2" "$PLUMB" train long.ini
expect_fail "missing config file" "nosuch.ini" "$PLUMB" train nosuch.ini
expect_fail "bad --set key" "lrr" "$PLUMB" train good.ini --set optim.lrr=1
expect_fail "bad --set syntax" "--set" "$PLUMB" train good.ini --set optim
expect_fail "unknown option" "--frobnicate" "$PLUMB" train a.ini --frobnicate 1
expect_fail "unknown command" "unknown command" "$PLUMB" trian x.ini
expect_fail "train without config" "usage" "$PLUMB" train
expect_fail "eval without checkpoint" "usage" "$PLUMB" eval a.ini
expect_fail "bad device string" "device" "$PLUMB" config --set run.device=gpu
check "no run folder was created by failed runs" test ! -e runs
# plumb config (the key reference) is readable in an 80-column terminal: every line fits, every
# key has its "name (type ...; default ...)" line and its meaning below it
ref=$("$PLUMB" config 2>&1)
check "plumb config: no line over 80 columns" awk '{ if (length($0) > 80) { print "    too long: " $0; bad = 1 } } END { exit bad }' <<<"$ref"
check "plumb config: [model] arch with its type, default and choices" bash -c "grep -q '^  arch (enum; default simplecnn)\$' <<<\"\$1\" && grep -q '^      one of: mlp | simplecnn' <<<\"\$1\"" _ "$ref"
check "plumb config: a bounded key" grep -q '^  epochs (int, \[1, 100000\]; default 10)$' <<<"$ref"
finish
