#!/usr/bin/env python3
"""make_jpeg_corpus.py OUT [--classes 10] [--per-class 40]: an ImageNet-like folder of JPEGs
(about 500x375, quality 90, OUT/train/cNN/*.jpg) for the loader benchmark, made of random
crops, resizes and flips of the real photographs it finds (Debian's darknet and
python3-skimage images, or any folder given with --src), or of generated images when there
are none (the GPU machine has no Debian packages: the corpus is still ImageNet-sized, only
less natural). Needs Pillow."""
import argparse, glob, os, random
from PIL import Image

SRC = ["/usr/share/darknet/data/*.jpg", "/usr/lib/python3/dist-packages/skimage/data/*.jpg",
       "/usr/lib/python3/dist-packages/skimage/data/*.png"]

def sources(extra):
    pats = SRC + [os.path.join(e, "*.jpg") for e in extra] + [os.path.join(e, "*.png") for e in extra]
    imgs = []
    for pat in pats:
        for p in sorted(glob.glob(pat)):
            if "truncated" in p:
                continue
            try:
                im = Image.open(p).convert("RGB")
                if min(im.size) >= 200:
                    imgs.append(im)
            except Exception:
                pass
    return imgs

def generated(rng, w=800, h=600):
    """A smooth random image with some texture (so JPEG sizes are photo-like)."""
    small = Image.frombytes("RGB", (16, 12), bytes(rng.randrange(256) for _ in range(16 * 12 * 3)))
    im = small.resize((w, h), Image.BICUBIC)
    noise = Image.effect_noise((w, h), 40).convert("RGB")
    return Image.blend(im, noise, 0.25)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--per-class", type=int, default=40)
    ap.add_argument("--src", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    imgs = sources(a.src)
    print(f"make_jpeg_corpus: {len(imgs)} source photographs" + ("" if imgs else " (none: generated images)"))
    total = 0
    for c in range(a.classes):
        d = os.path.join(a.out, "train", f"c{c:02d}")
        os.makedirs(d, exist_ok=True)
        for i in range(a.per_class):
            src = imgs[rng.randrange(len(imgs))] if imgs else generated(rng)
            W, H = src.size
            s = rng.uniform(0.5, 1.0)
            cw, ch = int(W * s), int(H * s)
            x, y = rng.randrange(W - cw + 1), rng.randrange(H - ch + 1)
            im = src.crop((x, y, x + cw, y + ch))
            tw, th = (500, 375) if rng.random() < 0.75 else (375, 500)
            im = im.resize((tw + rng.randrange(-20, 21), th + rng.randrange(-20, 21)), Image.BILINEAR)
            if rng.random() < 0.5:
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            im.save(os.path.join(d, f"{i:04d}.jpg"), quality=90)
            total += 1
    os.makedirs(os.path.join(a.out, "val"), exist_ok=True)
    # The test split points at train (the bench reads only train).
    for c in range(a.classes):
        link = os.path.join(a.out, "val", f"c{c:02d}")
        if not os.path.exists(link):
            os.symlink(os.path.join("..", "train", f"c{c:02d}"), link)
    print(f"make_jpeg_corpus: {total} JPEGs in {a.out}/train")

if __name__ == "__main__":
    main()
