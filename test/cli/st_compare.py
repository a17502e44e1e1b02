"""st_compare.py: compares the tensors of two safetensors files (the CLI tests' one copy of it).

    python3 st_compare.py A.safetensors B.safetensors MODE [PATTERN]

MODE: same (every tensor bit for bit), close (float32 tensors within 1e-5 of B's largest
magnitude, relative), differ (some float32 tensor further than 1e-3 apart). PATTERN: only the
tensors whose name matches this regular expression (default: all). The metadata is not compared.
Prints one line (the tensors compared and how far apart); exit 0 when MODE holds, else 1."""
import json
import re
import struct
import sys

import numpy as np


def load(path, pattern):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    head = json.loads(b[8:8 + n])
    head.pop("__metadata__", None)
    data = b[8 + n:]
    return {k: (v["dtype"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in head.items()
            if re.search(pattern, k)}


def main():
    a_path, b_path, mode = sys.argv[1:4]
    pattern = sys.argv[4] if len(sys.argv) > 4 else "."
    a, b = load(a_path, pattern), load(b_path, pattern)
    if a.keys() != b.keys():
        print(f"    the tensors differ by name: {sorted(set(a) ^ set(b))[:5]}")
        sys.exit(1)
    same = all(a[k] == b[k] for k in a)
    rel = 0.0
    for k, (dt, raw) in a.items():
        if dt != "F32":
            continue
        x, y = np.frombuffer(raw, np.float32), np.frombuffer(b[k][1], np.float32)
        rel = max(rel, float(np.max(np.abs(x - y), initial=0) / (np.max(np.abs(y), initial=0) + 1e-30)))
    print(f"    {len(a)} tensors: {'bit-identical' if same else f'max relative difference {rel:.3g}'}")
    ok = {"same": same, "close": rel <= 1e-5, "differ": rel > 1e-3}[mode]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
