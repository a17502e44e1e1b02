#!/usr/bin/python3
"""plot.py: figures of plumb runs for a paper (matplotlib, Agg; PNG at 200 dpi).

    python3 scripts/plot.py curves      RUN_DIR [--out DIR]
    python3 scripts/plot.py reliability EVAL_JSON [--out DIR]
    python3 scripts/plot.py groups      EVAL_JSON [--out DIR]
    python3 scripts/plot.py biasamp     RUN_DIR|EVAL_JSON... [--key data.eps] [--out DIR]
    python3 scripts/plot.py all         RUN_DIR [--out DIR]
    python3 scripts/plot.py collected   SUMMARY.csv --x data.eps --y final_test_biasamp [--out DIR]

curves: RUN_DIR/metrics.csv (engine/run/report.c) against the epoch, one figure per kind of
  figure, one line per column of that kind (model f_ / g_ / head name, split train / val / test
  or test variant biased / unbiased):
    curves_loss.png       *_loss (train_loss is the weighted sum of the method's terms)
    curves_acc.png        *_acc: train_acc, test_acc, unbiased_acc, f_unbiased_acc, ...
    curves_bias_acc.png   *_aligned_acc, *_conflicting_acc (bias-aligned / -conflicting test images)
    curves_cell_acc.png   *_cell_acc (ImageNet-9's cell-averaged accuracy)
    curves_disparity.png  *_disparity (max - min per-class accuracy of a head)
    curves_worst_group_acc.png, curves_group_disparity.png, curves_biasamp.png   data with a
                          group / attribute: the worst group's accuracy, best - worst, A->T
    curves_f2.png (*_f2, *_f2_select), curves_f2_threshold.png, curves_map.png, curves_mauc.png,
    curves_p1.png         multi-label models
    curves_auc.png, curves_eer.png, curves_tpr.png (*_tpr_at_fpr_F)   embedding models
    curves_ece.png, curves_f2.png, curves_map.png ...   any other *_KIND column, by its suffix
    curves_terms.png      a method's values of no model (hsic_train_loss, mixin_train_loss, ...)
    curves_lr.png         the learning rate
    curves_NAME.png       a column of no known kind (train_active, ...)
  Columns that are empty (nan) in every row are left out; epoch_seconds / images_per_second are
  not plotted. When an epoch has several rows (a resumed run appending again) the last one wins.
reliability: eval.json's calibration (engine/run/eval_json.c): per test set and head,
    reliability_SET.png (one head) or reliability_SET_HEAD.png: accuracy per confidence bin
    against the diagonal, the gap to each bin's mean confidence shaded, ECE / MCE in the title,
    the images per bin below; with calibration_per_group also
    reliability_SET[_HEAD]_groups.png: ECE and MCE per group (eval.json has no per-group bins).
groups: per test set and head, groups_SET.png / groups_SET_HEAD.png: accuracy per group
    (group_accuracy, when the data has groups) and per class, the disparities in the titles.
biasamp: bias amplification A->T (eval.json bias_amplification: study_a_to_t, and wang_a_to_t
    as a dashed line when present) against the value of --key (SECTION.KEY, default data.eps) in
    each run's resolved config (RUN_DIR/config.ini), one line per test set and head; runs with
    the same value (seeds) give the mean and, with two runs or more, an error bar of one sample
    standard deviation (ddof 1): biasamp_KEY.png (KEY the part after the last dot: biasamp_eps.png).
    An argument is an eval.json, or a run folder: its newest *.eval.json in it or in its
    checkpoints/ (plumb eval writes CHECKPOINT.eval.json unless --json says).
all: curves, and reliability and groups of the run's newest eval.json (those its figures allow).
collected: the summary of `plumb collect` (FILE_summary.csv: one row per setting, mean_COL and
    std_COL over seeds): mean_Y against X (a varied key) with error bars of std_Y (one sample
    standard deviation, ddof 1; none where a setting has one seed), one line per value of the
    other varied keys: collected_Y_KEY.png (KEY the part of X after the last dot). --y names a
    collected column (final_test_biasamp) or its mean_ column.

--out: default RUN_DIR/plots (for an eval.json the run folder holding it, or its folder), for
biasamp ./plots, for collected the summary's folder + /plots. Each PNG is written to a temporary name in --out and renamed; a line
"wrote FILE: ..." per figure says what it holds. Bad input (a missing file, a metrics.csv
without rows, an eval.json without the figures a plot needs) is a message naming the file on
stderr and exit status 2, with no figure written.
"""
import argparse
import csv
import glob
import json
import math
import os
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
except ImportError as e:  # scripts/setup.sh installs python3-matplotlib
    sys.stderr.write(f"plot.py: {e} (bash scripts/setup.sh installs python3-matplotlib)\n")
    sys.exit(2)

DPI = 200


class BadInput(Exception):
    """A message naming the file and what is missing: exit 2."""


# ------------------------------------------------------------------ output


def paper_style():
    plt.rcParams.update({
        "font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
        "xtick.labelsize": 7, "ytick.labelsize": 7, "axes.spines.top": False,
        "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5,
        "lines.linewidth": 1.2, "lines.markersize": 3, "legend.frameon": False,
        "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    })


def save(fig, out, name, summary):
    """fig -> out/name through a temporary name in out and os.replace; prints 'wrote ...'."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, name)
    tmp = os.path.join(out, f".{name}.tmp.{os.getpid()}")
    try:
        fig.savefig(tmp, dpi=DPI, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
    print(f"wrote {name}: {summary}")
    return path


def safe(name):
    return re.sub(r"[^A-Za-z0-9.+-]+", "_", name).strip("_") or "x"


def fmt(v):
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


# ------------------------------------------------------------------ curves

# (kind, regex over the column name): the first match names the column's kind; group 1 is the
# line's label (model, split), group 2 (when there) what sets lines of one kind apart further.
KINDS = [
    ("tpr", re.compile(r"^(.*)_tpr_at_fpr_(.+)$")),
    ("bias_acc", re.compile(r"^(.*)_(aligned|conflicting)_acc$")),
    ("cell_acc", re.compile(r"^(.*)_cell_acc$")),
    ("worst_group_acc", re.compile(r"^(.*)_worst_group_acc$")),
    ("group_disparity", re.compile(r"^(.*)_group_disparity$")),
    ("disparity", re.compile(r"^(.*)_disparity$")),
    ("biasamp", re.compile(r"^(.*)_biasamp$")),
    ("f2_threshold", re.compile(r"^(.*)_f2_threshold$")),
    ("f2", re.compile(r"^(.*)_f2(?:_select)?$")),
    ("p1", re.compile(r"^(.*)_p1$")),
    ("mauc", re.compile(r"^(.*)_mauc$")),
    ("loss", re.compile(r"^(.*)_loss$")),
    ("acc", re.compile(r"^(.*)_acc$")),
    ("auc", re.compile(r"^(.*)_auc$")),
    ("eer", re.compile(r"^(.*)_eer$")),
    ("ece", re.compile(r"^(.*)_ece$")),
    ("mce", re.compile(r"^(.*)_mce$")),
    ("map", re.compile(r"^(.*)_map$")),
]
KIND_LABEL = {
    "loss": "loss", "acc": "accuracy", "bias_acc": "accuracy (aligned / conflicting)",
    "cell_acc": "cell-averaged accuracy", "disparity": "per-class disparity (max - min)",
    "auc": "AUC", "eer": "EER", "tpr": "TPR at FPR", "ece": "ECE", "mce": "MCE", "f2": "F2",
    "map": "mAP", "mauc": "macro ROC AUC", "p1": "precision at 1", "f2_threshold": "F2's best threshold",
    "worst_group_acc": "worst group's accuracy", "group_disparity": "group disparity (best - worst group)",
    "biasamp": "bias amplification A->T", "lr": "learning rate", "terms": "method's terms (mean per step)",
}
NOT_PLOTTED = {"epoch", "step", "epoch_seconds", "images_per_second"}


def column_kind(col):
    """(kind, line label, colour key, line-style key) of a metrics.csv column: the colour tells
    the split (train / val / test / a variant) apart, the line style the model or head (or
    aligned / conflicting, the FPR). kind is 'lr', or the column itself when of no known kind."""
    if col == "lr":
        return "lr", "lr", "lr", ""
    for kind, rx in KINDS:
        m = rx.match(col)
        if not m or not m.group(1):
            continue
        pre = m.group(1)
        label = pre.replace("_", " ")
        if kind in ("tpr", "bias_acc"):
            label += (" @ FPR " if kind == "tpr" else " ") + m.group(2)
            return kind, label, pre, m.group(2)
        model, _, split = pre.rpartition("_")
        return kind, label, split, model
    return col, col.replace("_", " "), col, ""


def read_metrics(run_dir):
    """{column: [value per epoch]}, [epochs] from RUN_DIR/metrics.csv; raises BadInput."""
    path = os.path.join(run_dir, "metrics.csv")
    if not os.path.isfile(path):
        raise BadInput(f"{path}: no such file (is {run_dir} a plumb run folder? metrics.csv "
                       "is written after the first epoch)")
    rows, header = {}, None  # epoch -> {column: value}; a later row of an epoch replaces it
    with open(path, newline="") as f:
        for n, rec in enumerate(csv.reader(f), 1):
            if not rec or not "".join(rec).strip():
                continue
            if rec[0] == "epoch":  # the header (again, if a file was appended to by hand)
                header = rec
                continue
            if header is None:
                raise BadInput(f"{path}:{n}: no header line (epoch,step,...) before the rows")
            if len(rec) != len(header):  # a row cut short by a kill
                sys.stderr.write(f"plot.py: {path}:{n}: {len(rec)} fields, header has "
                                 f"{len(header)}: row skipped\n")
                continue
            vals = {}
            for k, v in zip(header, rec):
                try:
                    vals[k] = float(v)
                except ValueError:
                    vals[k] = float("nan")
            if math.isnan(vals.get("epoch", float("nan"))):
                continue
            rows[int(vals["epoch"])] = vals
    if not rows:
        raise BadInput(f"{path}: no rows (header only or empty: no epoch has finished)")
    epochs = sorted(rows)
    cols = []
    for e in epochs:
        cols += [c for c in rows[e] if c not in cols]
    data = {c: [rows[e].get(c, float("nan")) for e in epochs] for c in cols}
    return path, epochs, data


def plan_curves(run_dir):
    """[(file name, kind, [(column, label, values)])] of RUN_DIR/metrics.csv."""
    path, epochs, data = read_metrics(run_dir)
    kinds = {}
    for col, vals in data.items():
        if col in NOT_PLOTTED or all(math.isnan(v) for v in vals):
            continue
        kind, label, ck, sk = column_kind(col)
        if kind == "loss" and ck == "train" and sk and f"{sk}_train_acc" not in data:
            kind = "terms"  # a method's value (hsic, mixin, entropy): no predictions, own scale
        kinds.setdefault(kind, []).append((col, label, ck, sk, vals))
    if not kinds:
        raise BadInput(f"{path}: no column with a value to plot")
    order = ["loss", "acc", "bias_acc", "cell_acc", "worst_group_acc", "disparity", "group_disparity", "biasamp",
             "auc", "eer", "tpr", "ece", "mce", "f2", "f2_threshold", "map", "mauc", "p1", "terms", "lr"]
    names = sorted(kinds, key=lambda k: (order.index(k) if k in order else len(order), k))
    return path, epochs, [(f"curves_{safe(k)}.png", k, kinds[k]) for k in names]


def draw_curves(run_dir, out, plan):
    path, epochs, figs = plan
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ["-", "--", ":", "-."]
    written = []
    for name, kind, lines in figs:
        fig, ax = plt.subplots(figsize=(3.6, 2.6))
        cks, sks = [], []
        for _, _, ck, sk, _ in lines:
            cks += [ck] if ck not in cks else []
            sks += [sk] if sk not in sks else []
        for col, label, ck, sk, vals in lines:
            ax.plot(epochs, vals, color=colours[cks.index(ck) % len(colours)],
                    linestyle=styles[sks.index(sk) % len(styles)],
                    marker="o" if len(epochs) <= 30 else None, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(KIND_LABEL.get(kind, kind.replace("_", " ")))
        if kind == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        if kind != "lr":
            ax.legend(loc="best")
        ax.set_title(os.path.basename(os.path.abspath(run_dir)))
        cols = ", ".join(line[0] for line in lines)
        written.append(save(fig, out, name, f"{len(lines)} line{'s' if len(lines) != 1 else ''} ({cols}), {len(epochs)} epochs"))
    return written


# ------------------------------------------------------------------ eval.json


def read_eval(path):
    if not os.path.isfile(path):
        raise BadInput(f"{path}: no such file (plumb eval CONFIG --checkpoint CK writes "
                       "CK.eval.json, or the --json path)")
    try:
        with open(path) as f:
            e = json.load(f)
    except (OSError, ValueError) as x:
        raise BadInput(f"{path}: not a readable eval.json: {x}")
    if not isinstance(e, dict) or not isinstance(e.get("sets"), dict) or not e["sets"]:
        raise BadInput(f"{path}: no \"sets\" (not an eval.json of plumb eval)")
    return e


def heads(e):
    """(set name, head name, term dict, set dict) of every classifying head of every set."""
    for sname, s in e["sets"].items():
        for hname, t in (s.get("terms") or {}).items():
            if isinstance(t, dict):
                yield sname, hname, t, s


def tag(sname, hname):
    return safe(sname) + (f"_{safe(hname)}" if hname else "")


def title_of(sname, hname):
    return f"{sname}" + (f", head {hname}" if hname else "")


def missing(path, e, key, what):
    why = sorted({str(s.get("skipped", {}).get(key)) for s in e["sets"].values()
                  if isinstance(s.get("skipped"), dict) and key in s["skipped"]})
    reason = f" (eval.json says: {'; '.join(why)})" if why else ""
    return BadInput(f"{path}: no \"{key}\" in any test set or head: {what}{reason}")


def plan_reliability(path, e):
    plan = []
    for sname, hname, t, _ in heads(e):
        c = t.get("calibration")
        if isinstance(c, dict) and isinstance(c.get("bins"), list) and c["bins"]:
            plan.append((sname, hname, c, t.get("calibration_per_group")))
    if not plan:
        raise missing(path, e, "calibration", "a reliability diagram needs its 15-bin table")
    return plan


def draw_reliability(path, out, plan):
    written = []
    for sname, hname, c, per_group in plan:
        bins = c["bins"]
        lo = np.array([b["lower"] for b in bins], float)
        hi = np.array([b["upper"] for b in bins], float)
        n = np.array([b["n"] for b in bins], float)
        acc = np.array([np.nan if b["accuracy"] is None else b["accuracy"] for b in bins])
        conf = np.array([np.nan if b["confidence"] is None else b["confidence"] for b in bins])
        full = n > 0
        mid, w = (lo + hi) / 2, hi - lo
        fig, (ax, axh) = plt.subplots(2, 1, figsize=(3.4, 4.0), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 1], "hspace": 0.08})
        ax.bar(mid[full], acc[full], width=w[full], color="C0", edgecolor="black",
               linewidth=0.5, label="accuracy", zorder=2)
        gap_lo, gap_hi = np.minimum(acc, conf), np.maximum(acc, conf)
        ax.bar(mid[full], (gap_hi - gap_lo)[full], bottom=gap_lo[full], width=w[full],
               color="C3", alpha=0.3, edgecolor="C3", hatch="//", linewidth=0.5,
               label="gap to confidence", zorder=3)
        ax.plot([0, 1], [0, 1], color="gray", linestyle="--", linewidth=0.8,
                label="perfect calibration", zorder=4)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_ylabel("accuracy")
        ax.set_aspect("auto")
        ax.legend(loc="upper left")
        ax.set_title(f"{title_of(sname, hname)}: ECE {fmt(c.get('ece'))}, "
                     f"MCE {fmt(c.get('mce'))} (n {c.get('n')})")
        axh.bar(mid, n, width=w, color="gray", edgecolor="black", linewidth=0.5)
        axh.set_xlabel("confidence")
        axh.set_ylabel("images")
        name = f"reliability_{tag(sname, hname)}.png"
        written.append(save(fig, out, name, f"{len(bins)} bins ({int(full.sum())} with images), "
                            f"ECE {fmt(c.get('ece'))} MCE {fmt(c.get('mce'))}, n {c.get('n')}"))
        if isinstance(per_group, list) and per_group:
            g = np.arange(len(per_group))
            ece = [np.nan if x.get("ece") is None else x["ece"] for x in per_group]
            mce = [np.nan if x.get("mce") is None else x["mce"] for x in per_group]
            fig, ax = plt.subplots(figsize=(max(2.4, 0.5 * len(g) + 1.4), 2.6))
            ax.bar(g - 0.2, ece, width=0.4, label="ECE", color="C0")
            ax.bar(g + 0.2, mce, width=0.4, label="MCE", color="C3")
            ax.set_xticks(g, [f"{k}\nn {x.get('n')}" for k, x in enumerate(per_group)])
            ax.set_xlabel("group")
            ax.set_ylabel("calibration error")
            ax.legend(loc="best")
            ax.set_title(f"{title_of(sname, hname)}: calibration per group")
            name = f"reliability_{tag(sname, hname)}_groups.png"
            written.append(save(fig, out, name, f"{len(per_group)} groups, ECE "
                                + " ".join(fmt(v) for v in ece)))
    return written


def plan_groups(path, e):
    plan = []
    for sname, hname, t, _ in heads(e):
        if isinstance(t.get("per_class_accuracy"), list) or isinstance(t.get("group_accuracy"), dict):
            plan.append((sname, hname, t))
    if not plan:
        raise missing(path, e, "group_accuracy", "no per-group nor per-class accuracy")
    return plan


def acc_bars(ax, values, xlabel, ticks):
    x = np.arange(len(values))
    v = np.array([np.nan if a is None else a for a in values], float)
    ax.bar(x, np.nan_to_num(v), color="C0", edgecolor="black", linewidth=0.5)
    for i in np.flatnonzero(np.isnan(v)):
        ax.text(x[i], 0.02, "-", ha="center", va="bottom", fontsize=6)
    ax.set_xticks(x, ticks)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")


def draw_groups(path, out, plan):
    written = []
    for sname, hname, t in plan:
        ga, pc = t.get("group_accuracy"), t.get("per_class_accuracy")
        panels = [p for p in ("group", "class") if (ga if p == "group" else pc)]
        widths = [len(ga["per_group"]) if p == "group" else len(pc) for p in panels]
        fig, axes = plt.subplots(1, len(panels), squeeze=False,
                                 figsize=(1.2 + 0.32 * sum(widths) + 0.8 * len(panels), 2.6),
                                 gridspec_kw={"width_ratios": [max(w, 2) for w in widths]})
        what = []
        for ax, p in zip(axes[0], panels):
            if p == "group":
                ns = ga.get("per_group_n") or [None] * len(ga["per_group"])
                acc_bars(ax, ga["per_group"], "group",
                         [f"{k}\nn {n}" for k, n in enumerate(ns)])
                ax.set_title(f"per group: disparity {fmt(ga.get('disparity'))}")
                what.append(f"{len(ga['per_group'])} groups")
            else:
                acc_bars(ax, pc, "class", [str(k) for k in range(len(pc))])
                ax.set_title(f"per class: disparity {fmt(t.get('disparity'))}")
                what.append(f"{len(pc)} classes")
            ax.axhline(t.get("accuracy") or 0, color="gray", linestyle="--", linewidth=0.8)
        fig.suptitle(f"{title_of(sname, hname)}: accuracy {fmt(t.get('accuracy'))}", fontsize=8)
        fig.tight_layout()
        name = f"groups_{tag(sname, hname)}.png"
        written.append(save(fig, out, name, ", ".join(what) + (
            f", group disparity {fmt(ga.get('disparity'))}" if ga else "")))
    return written


# ------------------------------------------------------------------ bias amplification


def newest_eval_json(run_dir):
    found = glob.glob(os.path.join(run_dir, "*.eval.json")) + \
        glob.glob(os.path.join(run_dir, "checkpoints", "*.eval.json")) + \
        glob.glob(os.path.join(run_dir, "eval.json"))
    return max(found, key=os.path.getmtime) if found else None


def run_dir_of_eval(path, e=None):
    """The run folder an eval.json belongs to: its checkpoint's run folder, else its folder."""
    d = os.path.dirname(os.path.abspath(path))
    cands = [d, os.path.dirname(d)]
    if e and isinstance(e.get("checkpoint"), str) and e["checkpoint"]:
        ck = os.path.dirname(os.path.abspath(e["checkpoint"]))
        cands.insert(0, os.path.dirname(ck) if os.path.basename(ck) == "checkpoints" else ck)
    for c in cands:
        if os.path.isfile(os.path.join(c, "config.ini")):
            return c
    return os.path.dirname(d) if os.path.basename(d) == "checkpoints" else d


def ini_value(path, key):
    """SECTION.KEY's value in an INI file (the resolved config plumb writes), or None."""
    section, _, k = key.rpartition(".")
    cur = None
    with open(path) as f:
        for line in f:
            s = line.split("#", 1)[0].split(";", 1)[0].strip()
            if s.startswith("[") and s.endswith("]"):
                cur = s[1:-1].strip()
            elif "=" in s and cur == section:
                name, _, v = s.partition("=")
                if name.strip() == k:
                    return v.strip()
    return None


def plan_biasamp(args, key):
    if "." not in key or key.startswith(".") or key.endswith("."):
        raise BadInput(f"--key {key}: expected SECTION.KEY (e.g. data.eps)")
    points = []  # (x, {line: value}, run)
    for a in args:
        if os.path.isdir(a):
            ej = newest_eval_json(a)
            if not ej:
                raise BadInput(f"{a}: no *.eval.json in it nor in {os.path.join(a, 'checkpoints')} "
                               "(run plumb eval CONFIG --checkpoint CK first)")
            run = a
            e = read_eval(ej)
        else:
            ej = a
            e = read_eval(ej)
            run = run_dir_of_eval(ej, e)
        cfg = None
        for c in ("config.ini", "config.resumed.ini"):
            if os.path.isfile(os.path.join(run, c)):
                cfg = os.path.join(run, c)
                break
        if not cfg:
            raise BadInput(f"{ej}: no resolved config (config.ini) in its run folder {run}")
        v = ini_value(cfg, key)
        if v is None:
            raise BadInput(f"{cfg}: no key {key} (--key SECTION.KEY)")
        try:
            x = float(v)
        except ValueError:
            raise BadInput(f"{cfg}: {key} = {v} is not a number")
        vals = {}
        for sname, hname, t, _ in heads(e):
            ba = t.get("bias_amplification")
            if not isinstance(ba, dict):
                continue
            for var in ("study_a_to_t", "wang_a_to_t"):
                if isinstance(ba.get(var), (int, float)):
                    vals[(sname, hname, var)] = float(ba[var])
        if not vals:
            raise missing(ej, e, "bias_amplification", "the data needs a group / bias attribute")
        points.append((x, vals, run))
    return key, points


def draw_biasamp(out, plan):
    key, points = plan
    lines = []
    for _, vals, _ in points:
        lines += [k for k in vals if k not in lines]
    xs = sorted({x for x, _, _ in points})
    sets = []
    for s, h, _ in lines:
        sets += [(s, h)] if (s, h) not in sets else []
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    labels = []
    for s, h, var in lines:
        mx, my, sd = [], [], []
        for x in xs:
            v = [vals[(s, h, var)] for px, vals, _ in points if px == x and (s, h, var) in vals]
            v = [a for a in v if not math.isnan(a)]
            if v:
                mx.append(x)
                my.append(np.mean(v))
                sd.append(np.std(v, ddof=1) if len(v) > 1 else 0.0)
        if not mx:
            continue
        label = f"{title_of(s, h)} {var.split('_')[0]}"
        ax.errorbar(mx, my, yerr=sd, color=f"C{sets.index((s, h)) % 10}",
                    linestyle="-" if var.startswith("study") else "--",
                    marker="o" if var.startswith("study") else "s",
                    markerfacecolor=None if var.startswith("study") else "none", capsize=2,
                    label=label)
        labels.append(label)
    ax.axhline(0, color="gray", linewidth=0.6)
    ax.set_xlabel(key.rpartition(".")[2] + f" ({key})")
    ax.set_ylabel("bias amplification A->T")
    ax.legend(loc="best")
    name = f"biasamp_{safe(key.rpartition('.')[2])}.png"
    return [save(fig, out, name, f"{len(labels)} lines ({', '.join(labels)}), "
                 f"{len(xs)} {key} values, {len(points)} runs")]


# ------------------------------------------------------------------ collected (plumb collect)


def plan_collected(path, x, y):
    """Reads SUMMARY.csv: (x, y, [(label, [(xv, mean, std)])]), everything checked first."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
            cols = rows[0].keys() if rows else []
    except OSError as e:
        raise BadInput(f"{path}: {e.strerror}")
    if not rows:
        raise BadInput(f"{path}: no rows (plumb collect DIR --out FILE.csv writes FILE_summary.csv)")
    if "n" not in cols:
        raise BadInput(f"{path}: not a plumb collect summary (no n column)")
    if x not in cols:
        keys = [c for c in cols if c not in ("n", "seeds") and not c.startswith(("mean_", "std_"))]
        raise BadInput(f"{path}: no column {x} (the varied keys: {', '.join(keys) or 'none'})")
    ycol = y if y.startswith("mean_") else "mean_" + y
    if ycol not in cols:
        raise BadInput(f"{path}: no column {ycol} (plumb collect --metric may have left it out)")
    scol = "std_" + ycol[len("mean_"):]
    others = [c for c in cols if c not in (x, "n", "seeds") and not c.startswith(("mean_", "std_"))]
    lines = {}
    for i, r in enumerate(rows, 2):
        try:
            xv = float(r[x])
        except ValueError:
            raise BadInput(f"{path}:{i}: {x} = {r[x]!r} is not a number")
        m = float(r[ycol] or "nan")
        sd = float(r.get(scol) or "nan")
        label = ", ".join(f"{k.rpartition('.')[2]}={r[k]}" for k in others)
        lines.setdefault(label, []).append((xv, m, 0.0 if math.isnan(sd) else sd))
    if all(math.isnan(m) for pts in lines.values() for _, m, _ in pts):
        raise BadInput(f"{path}: {ycol} is nan in every row")
    return x, ycol, lines


def draw_collected(out, plan):
    x, ycol, lines = plan
    fig, ax = plt.subplots(figsize=(3.6, 2.6))
    for i, (label, pts) in enumerate(lines.items()):
        pts = sorted(p for p in pts if not math.isnan(p[1]))
        if not pts:
            continue
        ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts],
                    color=f"C{i % 10}", marker="o", capsize=2, label=label or None)
    ax.set_xlabel(x.rpartition(".")[2] + f" ({x})")
    ax.set_ylabel(ycol[len("mean_"):] + " (mean +- std over seeds)")
    if any(lines):
        ax.legend(loc="best")
    name = f"collected_{safe(ycol[len('mean_'):])}_{safe(x.rpartition('.')[2])}.png"
    npts = sum(len(p) for p in lines.values())
    return [save(fig, out, name, f"{ycol} against {x}: {len(lines)} line(s), {npts} settings")]


# ------------------------------------------------------------------ commands


def default_out(run_dir):
    return os.path.join(run_dir, "plots")


def cmd_curves(a):
    plan = plan_curves(a.run_dir)
    draw_curves(a.run_dir, a.out or default_out(a.run_dir), plan)


def cmd_eval(a, planner, drawer):
    e = read_eval(a.eval_json)
    plan = planner(a.eval_json, e)
    drawer(a.eval_json, a.out or default_out(run_dir_of_eval(a.eval_json, e)), plan)


def cmd_biasamp(a):
    draw_biasamp(a.out or "plots", plan_biasamp(a.runs, a.key))


def cmd_collected(a):
    plan = plan_collected(a.summary, a.x, a.y)
    draw_collected(a.out or os.path.join(os.path.dirname(os.path.abspath(a.summary)), "plots"), plan)


def cmd_all(a):
    out = a.out or default_out(a.run_dir)
    curves = plan_curves(a.run_dir)  # everything is read and checked before a figure is drawn
    ej = newest_eval_json(a.run_dir)
    evals = []
    if ej:
        e = read_eval(ej)
        for planner, drawer in ((plan_reliability, draw_reliability), (plan_groups, draw_groups)):
            try:
                evals.append((drawer, planner(ej, e)))
            except BadInput as x:
                print(f"skipped: {x}")
    else:
        print(f"skipped: {a.run_dir}: no *.eval.json (plumb eval CONFIG --checkpoint CK writes one)")
    draw_curves(a.run_dir, out, curves)
    for drawer, plan in evals:
        drawer(ej, out, plan)


def main(argv=None):
    p = argparse.ArgumentParser(prog="plot.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("curves", help="training curves of RUN_DIR/metrics.csv")
    c.add_argument("run_dir")
    r = sub.add_parser("reliability", help="reliability diagrams of eval.json")
    r.add_argument("eval_json")
    g = sub.add_parser("groups", help="per-group and per-class accuracy of eval.json")
    g.add_argument("eval_json")
    b = sub.add_parser("biasamp", help="bias amplification against a config value across runs")
    b.add_argument("runs", nargs="+", metavar="RUN_DIR|EVAL_JSON")
    b.add_argument("--key", default="data.eps", help="SECTION.KEY of the resolved config (data.eps)")
    al = sub.add_parser("all", help="curves and every plot the run's newest eval.json allows")
    al.add_argument("run_dir")
    co = sub.add_parser("collected", help="a plumb collect summary: mean +- std of a column against a varied key")
    co.add_argument("summary", metavar="SUMMARY.csv")
    co.add_argument("--x", required=True, help="the varied key on the x axis (data.eps)")
    co.add_argument("--y", required=True, help="the collected column (final_test_biasamp)")
    for s in (c, r, g, b, al, co):
        s.add_argument("--out", help="output folder (default RUN_DIR/plots; biasamp: ./plots)")
    a = p.parse_args(argv)
    paper_style()
    try:
        if a.cmd == "curves":
            cmd_curves(a)
        elif a.cmd == "reliability":
            cmd_eval(a, plan_reliability, draw_reliability)
        elif a.cmd == "groups":
            cmd_eval(a, plan_groups, draw_groups)
        elif a.cmd == "biasamp":
            cmd_biasamp(a)
        elif a.cmd == "collected":
            cmd_collected(a)
        else:
            cmd_all(a)
    except BadInput as x:
        sys.stderr.write(f"plot.py {a.cmd}: error: {x}\n")
        return 2
    except OSError as x:
        sys.stderr.write(f"plot.py {a.cmd}: error: {x}\n")
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
