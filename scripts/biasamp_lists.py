#!/usr/bin/env python3
"""biasamp_lists.py: the per-sample inversion lists of the bias-amplification study's
Fashion-MNIST experiment (facebookresearch/cv_bias_amplification, arXiv 2201.11706), drawn as
its configs/fashionmnist/scripts/generate_experiment_configs.py draws them, written once as
data for plumb's `[data] inversion_lists` (data/biasamp/README.md describes the files).

How the released code draws them (REFERENCES.md, "Bias amplification"): under one legacy numpy
seed (np.random.seed; train seed (assignment + 2) * 100000, test seed 100000), for each
original class c = 0..9 in order, a Python list of round(size p) ones then round(size (1 - p))
zeros (size 6000 train / 1000 test; p = round(0.5 + 0.01 eps, 2) for super-class 0,
round(0.5 - 0.01 eps, 2) for super-class 1) is shuffled with np.random.shuffle; sample k of the
dataset (IDX order) is inverted when list[class * size + index] is 1, with (class, index) of k
from train_ids / test_ids.

What truly varies: np.random.shuffle's draws depend on the list's length only, never on its
contents, so under one seed class c's permutation is the same for every eps (and, for the
test seed, for every assignment). A sample's list entry is 1 exactly when the slot its
permutation takes it from, its rank r in 0..size-1, is below the number of ones K = round(size
p). K is a multiple of size / 20 for every eps of the study (0, 5, ..., 50), so the twentieth
b = r // (size / 20) (0..19) decides it: inverted iff b < 20 p. Stored, in IDX sample order:
  inversion_train.npy  uint8 [20, 60000]: b of each training sample under assignment i's seed
  inversion_test.npy   uint8 [10000]:     b of each test sample under the test seed
The script then redraws every one of the 20 x 11 x 2 released lists the released way and
checks that the stored twentieths give them exactly.

Usage: /usr/bin/python3 scripts/biasamp_lists.py [--ids DIR] [--out DIR] [--check-only]
  --ids: folder with class_assignments.csv, train_ids.csv, test_ids.csv (../shared/data/biasamp)
  --out: where the .npy files go (data/biasamp)
  --check-only: redraw and compare against the files in --out, write nothing.
Also importable: released_list(assignment, eps, split, ids_dir) gives the released per-sample
0/1 list (the test's reference).
"""
import argparse
import csv
import os
import sys

import numpy as np

EPSILONS = range(0, 55, 5)
SIZES = {"train": 6000, "test": 1000}
NSAMPLES = {"train": 60000, "test": 10000}


def read_assignments(ids_dir):
    with open(os.path.join(ids_dir, "class_assignments.csv")) as f:
        rows = list(csv.DictReader(f))
    return [[int(r["class%d" % c]) for c in range(10)] for r in rows]


def read_ids(ids_dir, split):
    """(class, index) of every sample, in IDX order."""
    with open(os.path.join(ids_dir, "%s_ids.csv" % split)) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["sample"]) for r in rows] == list(range(NSAMPLES[split])), split + "_ids.csv: samples out of order"
    return np.array([[int(r["class"]), int(r["index"])] for r in rows], dtype=np.int64)


def seed_of(assignment, split):
    return (assignment + 2) * 100_000 if split == "train" else 100_000


def get_p(eps):
    """p[super-class], as the released get_p with custom_selection [0]."""
    return [np.round(0.5 + (eps * 0.01), 2), np.round(0.5 - (eps * 0.01), 2)]


def released_original(assignment_classes, eps, seed, size):
    """invert_original, drawn exactly as the released script does (legacy numpy seeding, a
    Python list shuffled in place per class)."""
    p = get_p(eps)
    state = np.random.get_state()
    np.random.seed(seed)
    out = []
    try:
        for c in assignment_classes:  # the super-class of class 0, 1, ..., 9 in order
            hold = [1] * int(np.round(size * p[c], 0)) + [0] * int(np.round(size * (1 - p[c]), 0))
            assert len(hold) == size, "list of %d entries for size %d" % (len(hold), size)
            np.random.shuffle(hold)
            out.extend(hold)
    finally:
        np.random.set_state(state)
    return np.array(out, dtype=np.uint8)


def released_list(assignment, eps, split, ids_dir):
    """The released per-sample inversion flags (IDX order) for one (assignment, eps, split)."""
    classes = read_assignments(ids_dir)[assignment]
    ids = read_ids(ids_dir, split)
    size = SIZES[split]
    orig = released_original(classes, eps, seed_of(assignment, split), size)
    return orig[ids[:, 0] * size + ids[:, 1]]


def twentieths(seed, size, ids):
    """b = rank // (size / 20) of every sample (IDX order) under one seed."""
    np.random.seed(seed)
    ranks = []
    for _ in range(10):
        r = list(range(size))
        np.random.shuffle(r)  # the same draws as shuffling any list of this length
        ranks.extend(r)
    ranks = np.array(ranks, dtype=np.int64)
    return (ranks[ids[:, 0] * size + ids[:, 1]] // (size // 20)).astype(np.uint8)


def main():
    here = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ids", default=os.path.join(here, "..", "shared", "data", "biasamp"))
    ap.add_argument("--out", default=os.path.join(here, "data", "biasamp"))
    ap.add_argument("--check-only", action="store_true")
    a = ap.parse_args()
    assignments = read_assignments(a.ids)
    assert len(assignments) == 20 and all(sum(x) == 5 for x in assignments)
    ids = {s: read_ids(a.ids, s) for s in SIZES}
    train = np.stack([twentieths(seed_of(i, "train"), 6000, ids["train"]) for i in range(20)])
    test = twentieths(seed_of(0, "test"), 1000, ids["test"])
    if a.check_only:
        train_f = np.load(os.path.join(a.out, "inversion_train.npy"))
        test_f = np.load(os.path.join(a.out, "inversion_test.npy"))
        assert train_f.dtype == np.uint8 and np.array_equal(train_f, train), "inversion_train.npy differs"
        assert test_f.dtype == np.uint8 and np.array_equal(test_f, test), "inversion_test.npy differs"
    # every released list, redrawn the released way, from the twentieths
    for i, cls in enumerate(assignments):
        for split, b in (("train", train[i]), ("test", test)):
            size = SIZES[split]
            sc = np.array(cls)[ids[split][:, 0]]
            for eps in EPSILONS:
                ref = released_original(cls, eps, seed_of(i, split), size)[ids[split][:, 0] * size + ids[split][:, 1]]
                p = np.where(sc == 0, get_p(eps)[0], get_p(eps)[1])
                mine = (b < np.round(20 * p)).astype(np.uint8)
                assert np.array_equal(ref, mine), "assignment %d eps %d %s: twentieths disagree" % (i, eps, split)
    print("checked: 20 assignments x %d eps x train/test lists equal the released draw" % len(EPSILONS))
    if not a.check_only:
        os.makedirs(a.out, exist_ok=True)
        np.save(os.path.join(a.out, "inversion_train.npy"), train)
        np.save(os.path.join(a.out, "inversion_test.npy"), test)
        print("wrote %s/inversion_train.npy %s, inversion_test.npy %s" % (a.out, train.shape, test.shape))
    return 0


if __name__ == "__main__":
    sys.exit(main())
