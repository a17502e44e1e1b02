#!/usr/bin/env python3
"""imagenet9_manifest.py: the ImageNet-9 manifests (ReBias, Bahng et al. ICML 2020) for plumb's
csv loader ([data] dataset = csv), from an ImageNet root with train/ and val/ folders of
WordNet-id class folders (n01440764/, ...). Standard library only.

  python3 scripts/imagenet9_manifest.py --root /data/imagenet --out /data/imagenet9

writes OUT/train.csv and OUT/val.csv:

  train.csv   path,label,category
  val.csv     path,label,category,cluster1,cluster2,cluster3

path      the image, relative to --root (train/n02085620/n02085620_10074.JPEG); with
          --paths absolute, an absolute path instead (plumb's csv loader refuses absolute
          paths: those manifests are for other tools)
label     the 9-class index as the official datasets/imagenet.py assigns it: dog 0, cat 1,
          frog 2, turtle 3, bird 4, monkey 5, fish 6, crab 7, insect 8. Train on this column
          (the default, the second column) with [model] num_classes = 9: training on the
          category names instead would number them alphabetically (bird 0 ... turtle 8).
category  the class name
clusterK  the image's label (0-8) in texture clustering K, joined on the path from the
          official clusters/9class_imagenet_val.csv (the "unbiased" accuracy's groups).
          plumb reads them from the test manifest alone with [data] test_group_columns =
          cluster1,cluster2,cluster3 (configs/rebias/imagenet9_base.ini): the cell-averaged
          accuracy test_cell_acc / f_test_cell_acc. ([data] group_column, the bias attribute
          of the aligned / conflicting accuracies, names a column of both manifests.)

How the official code (clovaai/rebias datasets/imagenet.py) finds the classes, and so this
script: the ImageNet class index of a folder is its position in the sorted list of the class
folders of that split (find_classes), so the split must hold all 1000 ImageNet-1k folders,
empty or not. The nine classes are the index ranges (inclusive) dog 151-254, cat 281-285,
frog 30-32, turtle 33-37, bird 89-97, monkey 372-378, fish 393-397, crab 118-121, insect
306-310, except that dog keeps only 151, 207, 234, 235, 254, bird only 89, 90, 94, 96, 97 and
monkey only 372-375, 378 (the classes shared with ImageNet-A): 42 WordNet ids. Those 42 ids
are also checked against the official CLASS_TO_INDEX table, so a tree whose 1000 folders are
not ImageNet-1k's is an error rather than silently mislabelled. Rows come in the official
order: class folders by sorted WordNet id, then image paths sorted (the official loader walks
each folder with os.walk, whose file order is the file system's; the published per-index
cluster files clusters/cluster_label_K.pth match the clusters CSV in its sorted path order).

Errors (non-zero exit, a message naming the file or folder): --root, train/ or val/ missing;
a split whose class folders are not exactly 1000 (or whose entries are not WordNet-id folders);
a wnid at one of the 42 indices that is not ImageNet-1k's; a file in one of the 42 class folders
that is not an image (official extensions .jpg .jpeg .png .bmp in any of the official cases;
--skip-unknown ignores such files as the official loader does); a class folder with no images;
a val image missing from the clusters file, or filed there under another category; a clusters
file without the columns path, category, cluster1..3. Cluster rows without an image under val/
(a partial val set) are counted and reported, not an error. Manifests are written to a
temporary file and renamed.
"""
import argparse
import csv
import os
import re
import sys

CLASSES = ["dog", "cat", "frog", "turtle", "bird", "monkey", "fish", "crab", "insect"]
# datasets/imagenet.py make_dataset: RESTRICTED_RANGES, inclusive, in label order.
RANGES = [(151, 254), (281, 285), (30, 32), (33, 37), (89, 97), (372, 378), (393, 397), (118, 121), (306, 310)]
# ... of which only these indices are kept (the classes that overlap with ImageNet-A).
KEEP = {0: [151, 207, 234, 235, 254], 4: [89, 90, 94, 96, 97], 5: [372, 373, 374, 375, 378]}
# datasets/imagenet.py CLASS_TO_INDEX (the ImageNet-A mapping): the same 42 WordNet ids, with
# their 9-class labels. Used here only to check that the tree's sorted folders are ImageNet-1k's.
OFFICIAL_WNIDS = {
    "n01641577": 2, "n01644373": 2, "n01644900": 2, "n01664065": 3, "n01665541": 3, "n01667114": 3,
    "n01667778": 3, "n01669191": 3, "n01819313": 4, "n01820546": 4, "n01833805": 4, "n01843383": 4,
    "n01847000": 4, "n01978287": 7, "n01978455": 7, "n01980166": 7, "n01981276": 7, "n02085620": 0,
    "n02099601": 0, "n02106550": 0, "n02106662": 0, "n02110958": 0, "n02123045": 1, "n02123159": 1,
    "n02123394": 1, "n02123597": 1, "n02124075": 1, "n02174001": 8, "n02177972": 8, "n02190166": 8,
    "n02206856": 8, "n02219486": 8, "n02486410": 5, "n02487347": 5, "n02488291": 5, "n02488702": 5,
    "n02492035": 5, "n02607072": 6, "n02640242": 6, "n02641379": 6, "n02643566": 6, "n02655020": 6}
# datasets/imagenet.py IMG_EXTENSIONS, less .ppm (plumb decodes JPEG, PNG and BMP only).
IMG_EXTENSIONS = (".jpg", ".JPG", ".jpeg", ".JPEG", ".png", ".PNG", ".bmp", ".BMP")
WNID = re.compile(r"^n[0-9]{8}$")
NUM_IMAGENET_CLASSES = 1000
CLUSTER_COLUMNS = ["cluster1", "cluster2", "cluster3"]
DEFAULT_CLUSTERS = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared",
                                                 "data", "rebias", "9class_imagenet_val.csv"))


class ManifestError(Exception):
    pass


def selected_indices():
    """{ImageNet class index: 9-class label}, as make_dataset builds class_to_idx_."""
    sel = {}
    for label, (lo, hi) in enumerate(RANGES):
        for idx in range(lo, hi + 1):
            if label in KEEP and idx not in KEEP[label]:
                continue
            sel[idx] = label
    return sel


def class_folders(split_dir, split):
    """The sorted class folder names of a split (find_classes), checked to be ImageNet-1k's shape."""
    if not os.path.isdir(split_dir):
        raise ManifestError("%s: no such folder (the ImageNet root needs %s/ with one folder per WordNet id)"
                            % (split_dir, split))
    names, unknown = [], []
    for e in sorted(os.listdir(split_dir)):
        if e.startswith("."):
            continue
        full = os.path.join(split_dir, e)
        if os.path.isdir(full) and WNID.match(e):
            names.append(e)
        else:
            unknown.append(e + ("/" if os.path.isdir(full) else ""))
    if unknown:
        hint = ""
        if any(u.lower().endswith((".jpeg", ".jpg")) for u in unknown):
            hint = " (image files directly under %s/: ImageNet's val images must first be sorted into WordNet-id" \
                   " folders, e.g. with the valprep.sh of pytorch/examples)" % split
        raise ManifestError("%s: %d entr%s that %s not a WordNet-id folder (n + 8 digits): %s%s" % (
            split_dir, len(unknown), "y" if len(unknown) == 1 else "ies", "is" if len(unknown) == 1 else "are",
            ", ".join(unknown[:5]) + (", ..." if len(unknown) > 5 else ""), hint))
    if len(names) != NUM_IMAGENET_CLASSES:
        raise ManifestError("%s: %d class folders, ImageNet-1k has %d: the class index is the position in the sorted"
                            " list of all %d WordNet ids (official datasets/imagenet.py find_classes), so a partial"
                            " list would give wrong labels (empty folders are fine)"
                            % (split_dir, len(names), NUM_IMAGENET_CLASSES, NUM_IMAGENET_CLASSES))
    return names


def nine_class_folders(names, split_dir):
    """[(wnid, label)] of the 42 selected folders, in sorted wnid order, checked against CLASS_TO_INDEX."""
    out = []
    for idx, label in sorted(selected_indices().items()):
        wnid = names[idx]
        if OFFICIAL_WNIDS.get(wnid) != label:
            expect = [w for w, lab in OFFICIAL_WNIDS.items() if lab == label]
            raise ManifestError("%s: the folder at class index %d is %s, but ImageNet-1k's %s classes are %s: these"
                                " 1000 folders are not the ImageNet-1k class list" % (
                                    split_dir, idx, wnid, CLASSES[label], " ".join(sorted(expect))))
        out.append((wnid, label))
    out.sort()
    if len(out) != len(OFFICIAL_WNIDS):
        raise ManifestError("internal: %d classes selected, expected %d" % (len(out), len(OFFICIAL_WNIDS)))
    return out


def list_images(split_dir, wnid, skip_unknown):
    """Image paths under split_dir/wnid (recursively, as os.walk in the official loader), relative to
    split_dir, sorted. Hidden entries are skipped."""
    base = os.path.join(split_dir, wnid)
    images, unknown = [], []
    for root, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for f in files:
            if f.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(root, f), split_dir).replace(os.sep, "/")
            (images if f.endswith(IMG_EXTENSIONS) else unknown).append(rel)
    if unknown and not skip_unknown:
        raise ManifestError("%s: %d file%s that %s not an image (extensions %s): %s; remove them, or pass"
                            " --skip-unknown to ignore them as the official loader does" % (
                                base, len(unknown), "" if len(unknown) == 1 else "s",
                                "is" if len(unknown) == 1 else "are", " ".join(IMG_EXTENSIONS),
                                ", ".join(sorted(unknown)[:5]) + (", ..." if len(unknown) > 5 else "")))
    if not images:
        raise ManifestError("%s: no images in this %s class folder" % (base, CLASSES[OFFICIAL_WNIDS[wnid]]))
    return sorted(images)


def read_clusters(path):
    """{val-relative path: (category, [c1, c2, c3])} from the official clusters CSV."""
    if not os.path.isfile(path):
        raise ManifestError("%s: no clusters file (clovaai/rebias clusters/9class_imagenet_val.csv); pass"
                            " --clusters PATH, or --no-clusters for a val manifest without cluster columns" % path)
    out = {}
    with open(path, newline="") as f:
        r = csv.reader(f)
        hdr = next(r, None)
        need = ["path", "category"] + CLUSTER_COLUMNS
        if not hdr or any(c not in hdr for c in need):
            raise ManifestError("%s:1: header %s lacks %s (expected path,category,cluster1,cluster2,cluster3)" % (
                path, ",".join(hdr or []), ",".join(c for c in need if c not in (hdr or []))))
        col = {c: hdr.index(c) for c in need}
        for line, row in enumerate(r, start=2):
            if not row:
                continue
            if len(row) != len(hdr):
                raise ManifestError("%s:%d: %d columns, the header has %d" % (path, line, len(row), len(hdr)))
            p, cat = row[col["path"]], row[col["category"]]
            if cat not in CLASSES:
                raise ManifestError("%s:%d: category '%s' is not one of %s" % (path, line, cat, " ".join(CLASSES)))
            try:
                cl = [int(row[col[c]]) for c in CLUSTER_COLUMNS]
            except ValueError:
                raise ManifestError("%s:%d: cluster labels must be integers: %s" % (
                    path, line, ",".join(row[col[c]] for c in CLUSTER_COLUMNS)))
            if any(c < 0 for c in cl):
                raise ManifestError("%s:%d: negative cluster label" % (path, line))
            if p in out:
                raise ManifestError("%s:%d: path %s listed twice" % (path, line, p))
            out[p] = (cat, cl)
    if not out:
        raise ManifestError("%s: no rows after the header" % path)
    return out


def write_csv(path, header, rows):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    try:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def build_split(root, split, args, clusters):
    split_dir = os.path.join(root, split)
    folders = nine_class_folders(class_folders(split_dir, split), split_dir)
    prefix = os.path.abspath(root) if args.paths == "absolute" else ""
    rows, counts, missing_clusters, used = [], [0] * len(CLASSES), [], set()
    for wnid, label in folders:
        for rel in list_images(split_dir, wnid, args.skip_unknown):
            path = "/".join(x for x in (prefix, split, rel) if x)
            row = [path, label, CLASSES[label]]
            if clusters is not None:
                hit = clusters.get(rel)
                if hit is None:
                    missing_clusters.append(rel)
                    continue
                if hit[0] != CLASSES[label]:
                    raise ManifestError("%s: %s is filed under category '%s' in the clusters file %s, but its folder"
                                        " is a %s class" % (split_dir, rel, hit[0], args.clusters, CLASSES[label]))
                row += hit[1]
                used.add(rel)
            rows.append(row)
            counts[label] += 1
    if missing_clusters:
        raise ManifestError("%s: %d image%s not in the clusters file %s (it lists the 2100 ImageNet val images of the"
                            " 42 classes): %s" % (
                                split_dir, len(missing_clusters), "" if len(missing_clusters) == 1 else "s",
                                args.clusters, ", ".join(missing_clusters[:5])
                                + (", ..." if len(missing_clusters) > 5 else "")))
    return rows, counts, used


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--root", required=True, help="ImageNet root holding train/ and val/ (WordNet-id class folders)")
    ap.add_argument("--out", required=True, help="folder for train.csv and val.csv (created if missing)")
    ap.add_argument("--paths", choices=["relative", "absolute"], default="relative",
                    help="image paths relative to --root (default; [data] image_root = the root) or absolute")
    ap.add_argument("--clusters", default=DEFAULT_CLUSTERS,
                    help="the official 9class_imagenet_val.csv (default: %(default)s)")
    ap.add_argument("--no-clusters", action="store_true", help="val.csv without the cluster columns")
    ap.add_argument("--splits", default="train,val", help="which of train,val to write (default: %(default)s)")
    ap.add_argument("--skip-unknown", action="store_true",
                    help="ignore non-image files in the class folders (the official loader does) instead of failing")
    args = ap.parse_args(argv)
    splits = [s for s in args.splits.split(",") if s]
    if not splits or any(s not in ("train", "val") for s in splits):
        raise ManifestError("--splits %s: train, val or train,val" % args.splits)
    if not os.path.isdir(args.root):
        raise ManifestError("--root %s: no such folder" % args.root)
    clusters = None
    if "val" in splits and not args.no_clusters:
        clusters = read_clusters(args.clusters)
    results = {}
    for split in splits:  # every split is checked before anything is written
        results[split] = build_split(args.root, split, args, clusters if split == "val" else None)
    os.makedirs(args.out, exist_ok=True)
    for split in splits:
        rows, counts, used = results[split]
        header = ["path", "label", "category"] + (CLUSTER_COLUMNS if split == "val" and clusters is not None else [])
        out = os.path.join(args.out, split + ".csv")
        write_csv(out, header, rows)
        print("%s: %d images (%s)" % (out, len(rows), ", ".join(
            "%d %s" % (i, CLASSES[i]) + ": %d" % counts[i] for i in range(len(CLASSES)))))
        if split == "val" and clusters is not None and len(used) < len(clusters):
            print("note: %d of the %d rows of %s have no image under %s (a partial val set: the unbiased accuracy's"
                  " cells then hold fewer images)" % (len(clusters) - len(used), len(clusters), args.clusters,
                                                      os.path.join(args.root, "val")))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except ManifestError as e:
        print("imagenet9_manifest: error: %s" % e, file=sys.stderr)
        sys.exit(1)
