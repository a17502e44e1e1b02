# cmake --install: the public headers listed in CMakeLists.txt (PLUMB_PUBLIC_HEADERS) and no
# others, each compiling on its own against the installed tree alone, plus libplumb and plumb.
source "$(dirname "$0")/lib.sh"
cmake --install . --prefix "$T/p" > "$T/install.log" 2>&1
check "cmake --install exits 0" test $? -eq 0
check "plumb installed" test -x "$T/p/bin/plumb"
check "libplumb installed" test -f "$T/p/lib/libplumb.a"
inc=$T/p/include/plumb
n=0
for h in $(cd "$inc" && find . -name '*.h' | sed 's|^\./||' | sort); do
  n=$((n + 1))
  printf '#include "%s"\nint main(void) { return 0; }\n' "$h" > "$T/one.c"
  if ! cc -std=c11 -fsyntax-only -D_POSIX_C_SOURCE=200809L -DPLUMB_HAVE_CUDA=0 -I"$inc" "$T/one.c" 2> "$T/cc.log"; then
    echo "FAIL [$h does not compile on its own against the installed headers]"; head -3 "$T/cc.log"
    FAILS=$((FAILS + 1))
  fi
done
echo "    $n headers installed"
check "35 public headers installed" test "$n" -eq 35
for internal in engine/config/config_internal.h loaders/jpeg_scan.h loaders/png_scan.h kernels/cuda_device.h engine/cli/cli.h metrics/verif_select.h; do
  check "internal header $internal not installed" test ! -e "$inc/$internal"
done
finish
