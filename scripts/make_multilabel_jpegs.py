#!/usr/bin/env python3
"""make_multilabel_jpegs.py OUT N SEED [--size S] [--classes K]: a small synthetic multi-label
JPEG set in the Inclusive Images layout, for test/cli/test_cli_multilabel.sh and
configs/inclusive_images.ini's smoke run.

Each of K labels is a shape of its own colour (label j: colour j of a fixed palette, a filled
square for even j, a disc for odd j) drawn at a random place and size on a noisy grey background;
an image holds 1 to 3 distinct labels (label 0 is frequent, the last label rare, so the classes
are imbalanced as in Open Images), and every 25th image holds none. Labels are named like Open
Images' machine ids ("/m/0lbl00", ...). Writes OUT/images/{train,test}_NNNN.jpg (quality 90),
OUT/train.csv and OUT/test.csv ("ImageID,LabelName": the image id, its labels space-separated,
N and N/2 rows), OUT/classes.txt (the K names in id order), and OUT/predict/ holding the test
images again for plumb predict. Needs Pillow (Debian's python3-pil) and numpy."""
import argparse, os
import numpy as np
from PIL import Image, ImageDraw

PALETTE = [(230, 40, 40), (40, 200, 60), (40, 80, 230), (240, 220, 40), (200, 40, 220), (40, 220, 220),
           (250, 140, 20), (120, 60, 20), (250, 250, 250), (20, 20, 20), (140, 140, 250), (120, 200, 120)]

ap = argparse.ArgumentParser()
ap.add_argument("out"); ap.add_argument("n", type=int); ap.add_argument("seed", type=int)
ap.add_argument("--size", type=int, default=48); ap.add_argument("--classes", type=int, default=6)
a = ap.parse_args()
if not 2 <= a.classes <= len(PALETTE): raise SystemExit("--classes: 2..%d" % len(PALETTE))
rng = np.random.default_rng(a.seed)
names = ["/m/0lbl%02d" % j for j in range(a.classes)]
os.makedirs(os.path.join(a.out, "images"), exist_ok=True)
os.makedirs(os.path.join(a.out, "predict"), exist_ok=True)
with open(os.path.join(a.out, "classes.txt"), "w") as f: f.write("\n".join(names) + "\n")
freq = np.linspace(2.0, 0.5, a.classes); freq /= freq.sum()
S = a.size
for split, cnt in (("train", a.n), ("test", a.n // 2)):
    rows = []
    for i in range(cnt):
        m = 0 if i % 25 == 24 else int(rng.integers(1, 4))
        labels = sorted(rng.choice(a.classes, size=m, replace=False, p=freq).tolist()) if m else []
        bg = rng.integers(90, 150, size=(S, S, 1)) + rng.integers(-12, 13, size=(S, S, 3))
        im = Image.fromarray(np.clip(bg, 0, 255).astype(np.uint8), "RGB")
        d = ImageDraw.Draw(im)
        for j in labels:
            r = int(rng.integers(S // 8, S // 4))
            cx, cy = (int(v) for v in rng.integers(r, S - r, size=2))
            box = [cx - r, cy - r, cx + r, cy + r]
            (d.rectangle if j % 2 == 0 else d.ellipse)(box, fill=PALETTE[j])
        iid = "%s_%04d" % (split, i)
        im.save(os.path.join(a.out, "images", iid + ".jpg"), quality=90)
        if split == "test": im.save(os.path.join(a.out, "predict", iid + ".jpg"), quality=90)
        rows.append("%s,%s" % (iid, " ".join(names[j] for j in labels)))
    with open(os.path.join(a.out, split + ".csv"), "w") as f: f.write("ImageID,LabelName\n" + "\n".join(rows) + "\n")
print("wrote %d + %d images, %d labels, to %s" % (a.n, a.n // 2, a.classes, a.out))
