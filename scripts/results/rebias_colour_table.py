#!/usr/bin/env python3
"""rebias_colour_table.py: the table of scripts/results/rebias_colour.sh's runs (one folder
METHOD-RHO per run under RUNS, each with plumb's metrics.csv and config.ini), beside the
ReBias paper's Table 1 (Biased MNIST, means of 3 runs; REFERENCES.md "ReBias"). Standard
library only.

  python3 scripts/results/rebias_colour_table.py RUNS > table.md

Per run: the reported model (f; g for `biased`) at the epoch the protocol selects (the best
unbiased accuracy on the test set, as the released code selects, [run] select) and at the
last epoch; its biased (rho 1) and unbiased (rho 0.1) test accuracy in percent.
"""
import csv
import os
import sys

PAPER = {  # Table 1, Biased MNIST: rho -> (unbiased, biased)
    'vanilla': {0.999: (10.4, 100), 0.997: (33.4, 100), 0.995: (72.1, 100), 0.990: (89.1, 100)},
    'biased': {0.999: (10.0, 100), 0.997: (10.0, 100), 0.995: (10.0, 100), 0.990: (10.0, 100)},
    'learnedmixin': {0.999: (12.1, 2.9), 0.997: (50.2, 6.7), 0.995: (78.2, 17.5), 0.990: (88.3, 33.6)},
    'rubi': {0.999: (13.7, 99.9), 0.997: (43.0, 99.4), 0.995: (90.4, 99.5), 0.990: (93.6, 100)},
    'rebias': {0.999: (22.7, 100), 0.997: (64.2, 100), 0.995: (76.0, 100), 0.990: (88.1, 100)},
}
ORDER = ['vanilla', 'biased', 'rubi', 'learnedmixin', 'rebias']


def config_value(path, section, key):
    sec = None
    for line in open(path):
        line = line.split(';')[0].strip()
        if line.startswith('['):
            sec = line.strip('[]')
        elif '=' in line and sec == section and line.split('=')[0].strip() == key:
            return line.split('=', 1)[1].strip()
    return None


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: rebias_colour_table.py RUNS')
    root = sys.argv[1]
    rows = []
    for name in sorted(os.listdir(root)):
        m, _, rho = name.rpartition('-')
        mcsv = os.path.join(root, name, 'metrics.csv')
        if m not in PAPER or not os.path.exists(mcsv):
            continue
        data = list(csv.DictReader(open(mcsv)))
        if not data:
            continue
        who = 'g' if m == 'biased' else 'f'
        ub, bi = who + '_unbiased_acc', who + '_biased_acc'
        best = max(data, key=lambda r: float(r[ub]) if r[ub] != 'nan' else -1)
        last = data[-1]
        cfg = os.path.join(root, name, 'config.ini')
        info = {k: config_value(cfg, s, k) for s, k in
                [('data', 'limit_train'), ('data', 'limit_test'), ('train', 'epochs'), ('train', 'batch_size'),
                 ('method', 'g_pretrain_epochs')]} if os.path.exists(cfg) else {}
        rows.append((float(rho), ORDER.index(m), m, who, best, last, len(data), info))
    rows.sort()
    print('| rho | method | model | best epoch | unbiased % (best) | biased % (best) | unbiased % (last) |'
          ' biased % (last) | paper unbiased % | paper biased % |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for rho, _, m, who, best, last, n, info in rows:
        pu, pb = PAPER[m].get(round(rho, 3), ('-', '-'))
        pct = lambda r, c: '%.1f' % (100 * float(r[c]))
        print('| %.3f | %s | %s | %s / %d | %s | %s | %s | %s | %s | %s |' % (
            rho, m, who, best['epoch'], n, pct(best, who + '_unbiased_acc'), pct(best, who + '_biased_acc'),
            pct(last, who + '_unbiased_acc'), pct(last, who + '_biased_acc'), pu, pb))
    if rows:
        info = rows[0][-1]
        print()
        print('Protocol of these runs (config.ini of the first): ' +
              ', '.join('%s = %s' % (k, v) for k, v in info.items() if v is not None))


if __name__ == '__main__':
    main()
