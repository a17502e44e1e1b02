#!/usr/bin/env python3
# make_multihead_pngs.py OUT N SEED: a tiny multi-head CSV + PNG dataset (standard library only) for
# test/cli/test_cli_multihead.sh: 16x16 RGB images whose red level encodes skin (4 classes),
# which half is bright green encodes gender (2), the blue level encodes age (3), with noise.
# OUT/train.csv (N rows) and OUT/test.csv (N/2): path,skin,gender,age; every 10th row from 3 lacks
# its age label and every 10th from 7 has no labels at all (an out-of-distribution row).
import os, random, struct, sys, zlib
def png(path, w, h, rows):
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
out, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
os.makedirs(os.path.join(out, "img"), exist_ok=True)
S = 16
for split, cnt in (("train", n), ("test", n // 2)):
    with open(os.path.join(out, split + ".csv"), "w") as f:
        f.write("path,skin,gender,age\n")
        for i in range(cnt):
            skin, gender, age = rnd.randrange(4), rnd.randrange(2), rnd.randrange(3)
            rows = []
            for y in range(S):
                row = []
                for x in range(S):
                    r = 40 + 60 * skin + rnd.randrange(20)
                    g = (200 if (x < S // 2) == (gender == 0) else 40) + rnd.randrange(20)
                    b = 30 + 90 * age + rnd.randrange(20)
                    row += [min(r, 255), min(g, 255), min(b, 255)]
                rows.append(row)
            name = "img/%s%04d.png" % (split, i)
            png(os.path.join(out, name), S, S, rows)
            lab = [str(skin), str(gender), str(age)]
            if i % 10 == 3: lab[2] = ""          # a missing age label
            if i % 10 == 7: lab = ["", "", ""]   # an out-of-distribution row: no labels
            f.write(",".join([name] + lab) + "\n")
