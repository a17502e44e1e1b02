#!/usr/bin/python3
"""make_corpus.py: writes the seed corpora of the libFuzzer harnesses, test/fuzz/corpus/<harness>/.

    /usr/bin/python3 test/fuzz/make_corpus.py        (numpy; PIL for the images, skipped without it)

Every seed is small (< 64 KiB) and valid or nearly valid input, so that the fuzzer starts from
the parsers' deep paths. Deterministic: running it again rewrites the same files (for the same
numpy / PIL / zlib). Input layouts that the harnesses add (fuzz_csv's options byte, fuzz_ini's
NUL + --set lines, fuzz_image_*'s "PBFZ" prefix) are described in each harness.
"""
import gzip
import io
import json
import os
import re
import shutil
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "corpus")


def put(harness, name, data):
    d = os.path.join(OUT, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    assert len(data) < 65536, (harness, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ INI configs
def ini():
    for name in sorted(os.listdir(os.path.join(ROOT, "configs"))):
        if name.endswith(".ini"):
            with open(os.path.join(ROOT, "configs", name), "rb") as f:
                put("fuzz_ini", name, f.read())
    # Every key at its default, one file per section, from the key table.
    keys = re.findall(r'\{"(\w+)", "(\w+)",\s*\w+,[^,]+,[^,]+, "([^"]*)"',
                      open(os.path.join(ROOT, "engine", "config", "config_keys.c")).read())
    sections = {}
    for sec, key, default in keys:
        sections.setdefault(sec, []).append(f"{key} = {default}\n")
    for sec, lines in sections.items():
        put("fuzz_ini", f"defaults_{sec}.ini", f"[{sec}]\n" + "".join(lines))
    put("fuzz_ini", "sets.ini", "[model]\narch = mlp\nhidden = 64,32\n\0model.hidden=8,4\n"
        "optim.name=adam\nschedule.milestones=10,20\nrun.seed=7\naugment.mean=0.5,0.5,0.5\n")
    put("fuzz_ini", "comments.ini", "\ufeff; comment\n# another\n[run]\nname = x   # inline\n"
        "seed: 3\r\n\n[train]\nepochs = 2 ; trailing\n")
    put("fuzz_ini", "include.ini", "include = 0\n[run]\nname = inc\n")
    put("fuzz_ini", "set_only.ini", "\0model.arch=resnet18\nmodel.width=0.5\nmodel.heads=a:2,b:3\n"
        "model.head_weights=1,2\nrun.device=cpu\n")


# ------------------------------------------------------------------ safetensors
ST_DT = {"float32": "F32", "float64": "F64", "float16": "F16", "int64": "I64", "int32": "I32",
         "int16": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL"}


def st_bytes(tensors, meta=None, raw_dtypes=None, odd=False):
    """tensors: list of (name, array); raw_dtypes: name -> dtype string that overrides (BF16);
    odd: one more header byte, for an odd file size (fuzz_safetensors then excludes fc.*)."""
    header, blobs, off = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, a in tensors:
        a = np.array(a, order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        dt = (raw_dtypes or {}).get(name) or ST_DT[a.dtype.name]
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8 + odd)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def model_tensors(classes=3):
    """The tensors of fuzz_safetensors.c's model: simplecnn, channels = 2, 1x4x4, 3 classes."""
    r = np.random.default_rng(1)
    f = lambda *s: r.standard_normal(s).astype(np.float32)
    return [("features.0.weight", f(2, 1, 3, 3)), ("features.1.weight", f(2)), ("features.1.bias", f(2)),
            ("features.1.running_mean", f(2)), ("features.1.running_var", np.ones(2, np.float32)),
            ("features.1.num_batches_tracked", np.array(5, np.int64)), ("fc.weight", f(classes, 8)),
            ("fc.bias", f(classes))]


def safetensors():
    meta = {"step": "12", "epoch": "1", "format": "pt"}
    model = model_tensors()
    put("fuzz_safetensors", "model.safetensors", st_bytes(model, meta))
    put("fuzz_safetensors", "model_5classes.safetensors", st_bytes(model_tensors(5), odd=True))
    state = []
    for name, a in model:
        if a.dtype == np.float32 and "running" not in name:
            state += [(f"optimizer.{name}.exp_avg", a * 0.1), (f"optimizer.{name}.exp_avg_sq", a * a)]
    put("fuzz_safetensors", "state.safetensors", st_bytes(state, {"step": "12", "cursor": "3", "rng": "99"}))
    put("fuzz_safetensors", "dtypes.safetensors", st_bytes(
        [("f64", np.arange(3, dtype=np.float64)), ("f16", np.arange(4, dtype=np.float16)),
         ("bf16", np.arange(2, dtype=np.uint16)), ("i64", np.array([-1, 2**62], np.int64)),
         ("i32", np.arange(3, dtype=np.int32)), ("i16", np.arange(2, dtype=np.int16)),
         ("i8", np.array([-128, 127], np.int8)), ("u8", np.arange(5, dtype=np.uint8)),
         ("b", np.array([True, False])), ("scalar", np.array(3.25, np.float32)),
         ("empty", np.zeros((0, 7), np.float32)), ("d8", np.zeros((1,) * 8, np.float32))],
        {"note": "t\u00e9st \"q\"\n", "": ""}, {"bf16": "BF16"}))
    put("fuzz_safetensors", "empty_header.safetensors", struct.pack("<Q", 8) + b"{}      ")
    put("fuzz_safetensors", "meta_only.safetensors", st_bytes([], {"a": "b"}))
    esc = st_bytes([("a\\\"b\u00e9\\u0041", np.ones(1, np.float32))])
    put("fuzz_safetensors", "escaped_name.safetensors", esc)
    fixture = os.path.join(ROOT, "test", "fixtures", "st_python.safetensors")
    if os.path.exists(fixture):
        shutil.copyfile(fixture, os.path.join(OUT, "fuzz_safetensors", "st_python.safetensors"))


# ------------------------------------------------------------------ IDX
def idx_bytes(a):
    return bytes([0, 0, 8, a.ndim]) + b"".join(struct.pack(">I", d) for d in a.shape) + a.tobytes()


def idx():
    r = np.random.default_rng(2)
    u8 = lambda hi, shape: r.integers(0, hi, shape, dtype=np.uint8)
    arrays = {"labels": u8(10, 10), "images": u8(256, (5, 4, 4)), "rows": u8(256, (3, 7)),
              "four": u8(256, (2, 2, 3, 2))}
    for name, a in arrays.items():
        put("fuzz_idx", name + ".idx", idx_bytes(a))
        put("fuzz_idx", name + ".idx.gz", gzip.compress(idx_bytes(a), mtime=0))
    fm = "/usr/share/datasets/fashion-mnist"  # Debian's dataset-fashion-mnist: real files
    if os.path.exists(os.path.join(fm, "t10k-images-idx3-ubyte.gz")):
        with gzip.open(os.path.join(fm, "t10k-images-idx3-ubyte.gz")) as f:
            head = f.read(16 + 20 * 784)
        real = np.frombuffer(head[16:], np.uint8).reshape(20, 28, 28)
        put("fuzz_idx", "fmnist20.idx.gz", gzip.compress(idx_bytes(real), mtime=0))
        with gzip.open(os.path.join(fm, "t10k-labels-idx1-ubyte.gz")) as f:
            lab = np.frombuffer(f.read()[8:8 + 20], np.uint8)
        put("fuzz_idx", "fmnist20-labels.idx", idx_bytes(lab))


# ------------------------------------------------------------------ CSV manifests
def csv():
    # (options byte, text): see fuzz_csv.c for the bits.
    seeds = {
        "path_label": (0x00, "path,label\na.jpg,1\nb.jpg,2\nsub/c.png,0\n"),
        "kaggle": (0x98, "name,skin_tone,gender,age\nx1.jpg,monk_3,female,0_17\n\"x2.jpg\",monk_1,male,18_30\n"
                         "x3.jpg,monk_3,male,0_17\n"),
        "multilabel": (0x41, "ImageID,Labels\na,cat dog\nb,dog\nc,\n"),
        "multilabel_ids": (0x41, "ImageID,Labels\na,1 2 3\nb,0\nc,9 9\n"),
        "multihead": (0x06, "path,skin,gender,age\nimg/t0.png,1,0,2\nimg/t1.png,3,1,\nimg/t2.png,,,\n"
                            "img/t3.png,0,1,1\n"),
        "multihead_names": (0x06, "path,skin,gender,age\na.png,light,f,old\nb.png,dark,m,\n"),
        "group": (0x20, "path,label,group\na.jpg,1,0\nb.jpg,0,1\nc.jpg,1,1\n"),
        "crlf_quotes": (0x00, "\"path\",\"label\"\r\n\"a,b.jpg\",\"1\"\r\n\"say \"\"hi\"\".jpg\",2\r\n\r\n"),
        "blank_lines": (0x40, "path,label\n\na,3\n\nb,4\n"),
        "age_group": (0x30, "path,skin,gender,age\na.png,1,0,2\nb.png,2,1,0\n"),
        "error_cols": (0x00, "path,label\na.jpg,1\nb.jpg,2,3\n"),
        "error_escape": (0x00, "path,label\na.jpg,1\n../../etc/passwd,2\n"),
    }
    for name, (opt, text) in seeds.items():
        put("fuzz_csv", name + ".csv", bytes([opt]) + text.encode())


def unlabelled():
    # (options byte, text): see fuzz_unlabelled.c for the bits.
    seeds = {
        "kaggle_ids": (0x00, "image_id\n0001a\n0002b\n\n0003c\n"),
        "id_path": (0x03, "id,path,extra\na,img/a.png,x\n\"b,c\",\"img/b c.jpg\",y\r\n"),
        "no_suffix": (0x0c, "image_id,other\na.png,1\nb.jpg,2\n"),
        "error_dup": (0x00, "image_id\na\nb\na\n"),
        "error_noid": (0x00, "id,path\na,b\n"),
        "error_short": (0x02, "image_id,x,path\na,1\n"),
        "error_quote": (0x00, "image_id\n\"abc\n"),
    }
    for name, (opt, text) in seeds.items():
        put("fuzz_unlabelled", name + ".csv", bytes([opt]) + text.encode())


# ------------------------------------------------------------------ .npy
def npy_bytes(a, version=(1, 0)):
    b = io.BytesIO()
    np.lib.format.write_array(b, a, version=version)
    return b.getvalue()


def npy():
    r = np.random.default_rng(3)
    seeds = {
        "f4_4x3": r.standard_normal((4, 3)).astype("<f4"),
        "f4_4x2x3": r.standard_normal((4, 2, 3)).astype("<f4"),
        "f4_5": r.standard_normal(5).astype("<f4"),
        "f4_1x2x1x2": r.standard_normal((1, 2, 1, 2)).astype("<f4"),
        "u1_4": np.array([0, 1, 2, 255], "|u1"),
        "i1_2x2": np.array([[-128, 1], [2, 127]], "|i1"),
        "i4_4": np.array([0, 1, 2, 1], "<i4"),
        "i8_4": np.array([0, 1, 2, 1], "<i8"),
        "i8_3x1x1": np.array([[[-1]], [[2**40]], [[3]]], "<i8"),
        "f4_0x3": np.zeros((0, 3), "<f4"),
    }
    for name, a in seeds.items():
        put("fuzz_npy", name + ".npy", npy_bytes(a))
    put("fuzz_npy", "f4_4x3_v2.npy", npy_bytes(seeds["f4_4x3"], (2, 0)))
    put("fuzz_npy", "fortran.npy", npy_bytes(np.asfortranarray(r.standard_normal((4, 3)).astype("<f4"))))
    put("fuzz_npy", "f8_unsupported.npy", npy_bytes(np.arange(4, dtype="<f8")))


# ------------------------------------------------------------------ images
def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png16_rgb(w, h):
    """A 16-bit RGB PNG (PIL writes 16-bit grey only)."""
    rows = b"".join(b"\0" + b"".join(struct.pack(">HHH", x * 4000, y * 9000, 65535 - x * 3000)
                                     for x in range(w)) for y in range(h))
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + png_chunk(b"IDAT", zlib.compress(rows)) + png_chunk(b"IEND", b""))


def images():
    seeds = {}
    try:
        from PIL import Image
    except ImportError:
        print("make_corpus: PIL (python3-pil) not found: only the hand-written PNG image seeds", file=sys.stderr)
        Image = None
    seeds["rgb16_5x4.png"] = png16_rgb(5, 4)
    if Image is not None:
        def pattern(w, h):
            a = np.zeros((h, w, 3), np.uint8)
            a[..., 0] = (np.arange(w) * 255 // max(w - 1, 1))[None, :]
            a[..., 1] = (np.arange(h) * 255 // max(h - 1, 1))[:, None]
            a[..., 2] = 128
            return Image.fromarray(a, "RGB")

        def save(im, fmt, **kw):
            b = io.BytesIO()
            im.save(b, fmt, **kw)
            return b.getvalue()

        rgb = pattern(40, 30)
        seeds["baseline_40x30.jpg"] = save(rgb, "JPEG", quality=75)
        seeds["baseline_444_7x5.jpg"] = save(pattern(7, 5), "JPEG", quality=90, subsampling=0)
        seeds["baseline_422_17x9.jpg"] = save(pattern(17, 9), "JPEG", quality=60, subsampling=1)
        seeds["progressive_40x30.jpg"] = save(rgb, "JPEG", quality=75, progressive=True)
        seeds["optimized_1x1.jpg"] = save(pattern(1, 1), "JPEG", optimize=True)
        seeds["grey_33x20.jpg"] = save(pattern(33, 20).convert("L"), "JPEG", quality=80)
        seeds["grey_progressive_16x16.jpg"] = save(pattern(16, 16).convert("L"), "JPEG", progressive=True)
        seeds["cmyk_20x12.jpg"] = save(pattern(20, 12).convert("CMYK"), "JPEG", quality=70)
        seeds["scaled_96x80.jpg"] = save(pattern(96, 80), "JPEG", quality=40)  # TurboJPEG 1/2 scale
        seeds["scaled_300x260.jpg"] = save(pattern(300, 260), "JPEG", quality=20)  # 1/8 scale
        seeds["rgb_12x9.png"] = save(pattern(12, 9), "PNG")
        seeds["rgba_9x7.png"] = save(pattern(9, 7).convert("RGBA"), "PNG")
        seeds["grey_8x8.png"] = save(pattern(8, 8).convert("L"), "PNG")
        seeds["greyalpha_6x5.png"] = save(pattern(6, 5).convert("LA"), "PNG")
        seeds["palette_10x6.png"] = save(pattern(10, 6).convert("P", palette=Image.ADAPTIVE, colors=8), "PNG")
        seeds["grey16_7x3.png"] = save(Image.fromarray((np.arange(21).reshape(3, 7) * 3000).astype(np.uint16)), "PNG")
        seeds["mono_9x9.png"] = save(pattern(9, 9).convert("1"), "PNG")
        seeds["rgb_11x7.bmp"] = save(pattern(11, 7), "BMP")
        seeds["grey_5x5.bmp"] = save(pattern(5, 5).convert("L"), "BMP")
        seeds["palette_6x4.bmp"] = save(pattern(6, 4).convert("P", palette=Image.ADAPTIVE, colors=4), "BMP")
        seeds["mono_8x3.bmp"] = save(pattern(8, 3).convert("1"), "BMP")
        seeds["rgba_4x4.bmp"] = save(pattern(4, 4).convert("RGBA"), "BMP")
        # Parameterised inputs: "PBFZ" flags min_w min_h image (fuzz_image.h).
        seeds["pbfz_grey_noconvert.jpg"] = b"PBFZ\x01\x00\x00" + seeds["grey_33x20.jpg"]
        seeds["pbfz_rgb_mismatch.jpg"] = b"PBFZ\x01\x08\x08" + seeds["baseline_40x30.jpg"]
        seeds["pbfz_scaled.jpg"] = b"PBFZ\x02\x10\x10" + seeds["scaled_300x260.jpg"]
        seeds["pbfz_rgba_convert.png"] = b"PBFZ\x03\x00\x00" + seeds["rgba_9x7.png"]
        seeds["pbfz_cmyk.jpg"] = b"PBFZ\x02\x04\x04" + seeds["cmyk_20x12.jpg"]
    for harness in ("fuzz_image_tj", "fuzz_image_stb"):
        for name, data in seeds.items():
            put(harness, name, data)


# ------------------------------------------------------------------ sweeps and collection
def sweep_spec():
    # The spec text; fuzz_sweep_spec.c appends "[sweep] base = base.ini" (its own base config).
    for f in sorted(os.listdir(os.path.join(ROOT, "configs", "sweeps"))):
        if f.endswith(".ini"):
            with open(os.path.join(ROOT, "configs", "sweeps", f), "rb") as fh:
                put("fuzz_sweep_spec", f, fh.read())
    seeds = {
        "grid": "[sweep]\nmode = grid\nname = g-eps{data.eps}-s{run.seed}\n[vary]\ndata.eps = 0, 20, 40\n"
                "run.seed = 1:3\n",
        "zip": "[sweep]\nmode = zip\nname = z{trial}\n[vary]\ndata.eps = 0, 10\noptim.lr = 0.1, 0.01\n",
        "random": "[sweep]\nmode = random\ntrials = 5\nseed = 3\n[vary]\noptim.lr = loguniform(1e-4, 1e-1)\n"
                  "train.label_smoothing = uniform(0, 0.2)\ntrain.batch_size = randint(8, 64)\n"
                  "model.arch = choice(mlp, simplecnn)\n",
        "cross_seeds": "[sweep]\ncross_seeds = 1, 2, 3\nout_dir = out\n[set]\ntrain.epochs = 1\n",
        "ranges": "[sweep]\nname = r-{optim.lr}-{data.eps}\n[vary]\noptim.lr = range(0.01, 0.05, 0.01)\n"
                  "data.eps = 0:50:25\ntrain.epochs = range(1, 3)\n",
        "lists": "[vary]\nmodel.head_weights = 10,2,4 | 1,1,1\n[sweep]\nname = h{trial}  ; comment\n"
                 "# a comment\n[set]\nmodel.arch = mlp\n",
        "include": "include = spec.ini\n[vary]\ndata.eps = 1\n",
        "override": "[sweep]\nmode = random\ntrials = 2\n[vary]\ndata.eps = 0, 5\ndata.eps = choice(5, 10)\n",
        "error_key": "[vary]\ndata.epz = 1, 2\n",
        "error_zip": "[sweep]\nmode = zip\n[vary]\ndata.eps = 0, 10\nrun.seed = 1:3\n",
        "error_dup_names": "[sweep]\nname = same\n[vary]\nrun.seed = 1, 2\n",
        # More than SPEC_MAX_VALUES values: a timeout while range values grew one realloc at a time.
        "error_range_limit": "[vary]\ndata.eps = 0:5000000000\n",
    }
    for name, text in seeds.items():
        put("fuzz_sweep_spec", name + ".ini", text)


def manifest():
    # The manifest text; fuzz_manifest.c writes configs/trial-0001.ini and -0002.ini beside it.
    seeds = {
        "sweep": "trial,data.eps,run.seed,name,config\n1,0,1,q-eps0-seed1,configs/trial-0001.ini\n"
                 "2,0,2,q-eps0-seed2,configs/trial-0002.ini\n",
        "quoted": "trial,model.head_weights,name,config\r\n1,\"10,2,4\",\"h \"\"a\"\"\",configs/trial-0001.ini\r\n"
                  "2,\"1,1,1\",h-b,configs/trial-0002.ini\r\n",
        "no_keys": "trial,name,config\n1,trial-0001,configs/trial-0001.ini\n\n",
        "error_width": "trial,data.eps,name,config\n1,0,a,configs/trial-0001.ini\n2,0,b\n",
        "error_config": "trial,data.eps,name,config\n1,0,a,configs/trial-0009.ini\n",
        "error_header": "trial,data.eps,config,name\n1,0,configs/trial-0001.ini,a\n",
    }
    for name, text in seeds.items():
        put("fuzz_manifest", name + ".csv", text)


def biasamp_csv():
    with open(os.path.join(ROOT, "data", "biasamp", "class_assignments.csv"), "rb") as f:
        full = f.read()
    put("fuzz_biasamp_csv", "class_assignments.csv", full)
    put("fuzz_biasamp_csv", "first_rows.csv", b"".join(full.splitlines(keepends=True)[:3]))
    put("fuzz_biasamp_csv", "crlf.csv", b"\r\n".join(full.splitlines()[:3]) + b"\r\n")
    put("fuzz_biasamp_csv", "error_unbalanced.csv", b"".join(full.splitlines(keepends=True)[:2])
        + b"1,1,1,1,1,1,1,0,0,0,0\n")


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    for gen in (ini, safetensors, idx, csv, unlabelled, npy, images, sweep_spec, manifest, biasamp_csv):
        gen()
    for h in sorted(os.listdir(OUT)):
        print(f"make_corpus: {h}: {len(os.listdir(os.path.join(OUT, h)))} seeds")


if __name__ == "__main__":
    main()
