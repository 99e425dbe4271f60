#!/usr/bin/python3
"""Turn a benchmark's raw samples into Markdown tables and PNG plots.

usage: report.py --title TITLE --out DIR [options] RAW.tsv

RAW.tsv holds one sample per line: ROW <tab> VARIANT <tab> METRIC <tab> VALUE
(a failed sample has VALUE "error"). For every metric, one table: a line per
row, a column per variant with the median and the min-max of its samples,
and a column per variant with the ratio of its median to the baseline's.
Rows and variants keep the order of their first sample. Writes
DIR/results.md (with DIR/machine.md first, when it exists) and, when
gnuplot is installed, DIR/<metric>.png (bars: medians; whiskers: min-max).

options:
  --baseline VARIANT     ratios are given against this variant
  --metric M=LABEL       how metric M is titled (default: M)
  --lower-better M       for M, the ratio is baseline / variant, so > 1
                         still means "better than the baseline"
  --log M                plot M on a logarithmic axis
  --target 'ROW|VARIANT|BASELINE|METRIC|GOAL|TEXT'
                         a target on medians; GOAL is xN (ratio, as above,
                         at least N), +<=N (variant minus baseline at most
                         N) or <=N (variant at most N; BASELINE unused).
                         The report lists each target: met, or missed by
                         how much
  --note TEXT            a paragraph under the title (repeatable)
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys


def fmt(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 1000:
        return "{:,.0f}".format(v)
    if a >= 10:
        return "{:.1f}".format(v)
    return "{:.3g}".format(v)


def load(path):
    rows, variants, metrics = [], [], []
    samples = {}
    errors = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            if len(parts) != 4:
                sys.exit("%s:%d: expected 4 tab-separated fields" % (path, n))
            row, var, met, val = parts
            for lst, x in ((rows, row), (variants, var), (metrics, met)):
                if x not in lst:
                    lst.append(x)
            key = (row, var, met)
            try:
                samples.setdefault(key, []).append(float(val))
            except ValueError:
                errors[key] = errors.get(key, 0) + 1
    return rows, variants, metrics, samples, errors


def stats(vals):
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def ratio(samples, row, var, base, met, lower):
    s, b = stats(samples.get((row, var, met), [])), stats(samples.get((row, base, met), []))
    if not s or not b or s[0] == 0 or b[0] == 0:
        return None
    return b[0] / s[0] if lower else s[0] / b[0]


def plot(out, met, label, rows, variants, samples, log):
    if shutil.which("gnuplot") is None:
        return None
    dat = os.path.join(out, met + ".dat")
    with open(dat, "w") as f:
        for row in rows:
            cols = ['"%s"' % row]
            for var in variants:
                s = stats(samples.get((row, var, met), []))
                cols += ["%g %g %g" % s if s else "NaN NaN NaN"]
            f.write(" ".join(cols) + "\n")
    png = os.path.join(out, met + ".png")
    uses = []
    for i, var in enumerate(variants):
        c = 2 + 3 * i
        src = "'%s'" % dat if i == 0 else "''"
        tic = ":xtic(1)" if i == 0 else ""
        uses.append("%s using %d:%d:%d%s title '%s'" % (src, c, c + 1, c + 2, tic, var))
    script = "\n".join([
        "set terminal pngcairo size 1100,560 noenhanced font ',10'" ,
        "set output '%s'" % png,
        "set title '%s (median; whiskers: min-max)'" % label.replace("'", ""),
        "set style data histogram",
        "set style histogram errorbars gap 2 lw 1",
        "set style fill solid 0.7 border -1",
        "set boxwidth 0.9",
        "set key outside right top",
        "set xtics rotate by -30",
        "set grid ytics",
        "set yrange [%s:*]" % ("*" if log else "0"),
        "set logscale y" if log else "",
        "plot " + ", ".join(uses),
    ])
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0:
        sys.stderr.write("report.py: gnuplot failed for %s: %s\n" % (met, r.stderr.strip()))
        return None
    os.unlink(dat)
    return png


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("raw")
    ap.add_argument("--title", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--baseline")
    ap.add_argument("--metric", action="append", default=[])
    ap.add_argument("--lower-better", action="append", default=[])
    ap.add_argument("--log", action="append", default=[])
    ap.add_argument("--target", action="append", default=[])
    ap.add_argument("--note", action="append", default=[])
    a = ap.parse_args()

    rows, variants, metrics, samples, errors = load(a.raw)
    labels = dict(m.split("=", 1) for m in a.metric)
    md = []
    machine = os.path.join(a.out, "machine.md")
    md.append("# " + a.title)
    md.append("")
    for n in a.note:
        md += [n, ""]
    for met in metrics:
        lower = met in a.lower_better
        label = labels.get(met, met)
        mrows = [r for r in rows if any((r, v, met) in samples or (r, v, met) in errors for v in variants)]
        mvars = [v for v in variants if any((r, v, met) in samples or (r, v, met) in errors for r in rows)]
        n = max((len(samples.get((r, v, met), [])) for r in mrows for v in mvars), default=0)
        md.append("## %s" % label)
        md.append("")
        md.append("Median of %d run%s, min-max in brackets%s." % (
            n, "" if n == 1 else "s",
            "" if not a.baseline or a.baseline not in mvars else
            "; ratio columns: %s, > 1 is better than %s" % (
                "%s / variant" % a.baseline if lower else "variant / %s" % a.baseline, a.baseline)))
        md.append("")
        others = [v for v in mvars if a.baseline and v != a.baseline and a.baseline in mvars]
        head = ["test"] + mvars + ["%s vs %s" % (v, a.baseline) for v in others]
        md.append("| " + " | ".join(head) + " |")
        md.append("|" + "---|" * len(head))
        for row in mrows:
            cells = [row]
            for v in mvars:
                s = stats(samples.get((row, v, met), []))
                e = errors.get((row, v, met), 0)
                c = "%s (%s-%s)" % (fmt(s[0]), fmt(s[1]), fmt(s[2])) if s else "-"
                if e:
                    c += " [%d failed]" % e
                cells.append(c)
            for v in others:
                r = ratio(samples, row, v, a.baseline, met, lower)
                cells.append("%.2fx" % r if r is not None else "-")
            md.append("| " + " | ".join(cells) + " |")
        md.append("")
        pvars = [v for v in mvars if any((r, v, met) in samples for r in mrows)]
        png = plot(a.out, met, label, mrows, pvars, samples, met in a.log) if pvars else None
        if png:
            md.append("![%s](%s)" % (label, os.path.basename(png)))
            md.append("")
    if a.target:
        md.append("## Targets")
        md.append("")
        md.append("| target | measured | verdict |")
        md.append("|---|---|---|")
        for t in a.target:
            try:
                row, var, base, met, goal, text = t.split("|", 5)
                kind = "x" if goal.startswith("x") else "+" if goal.startswith("+<=") else "<="
                lim = float(goal[{"x": 1, "+": 3, "<=": 2}[kind]:])
            except (ValueError, KeyError):
                sys.exit("report.py: bad --target %r" % t)
            s = stats(samples.get((row, var, met), []))
            b = stats(samples.get((row, base, met), []))
            verdict, got = "not measured", "-"
            if kind == "x":
                r = ratio(samples, row, var, base, met, met in a.lower_better)
                if r is not None:
                    got = "%.2fx" % r
                    short = 100 * (lim - r) / lim
                    verdict = "met" if r >= lim else "missed by %.*f%%" % (
                        1 if short < 10 else 0, short)
            elif kind == "+" and s and b:
                d = s[0] - b[0]
                got = "%s (%s vs %s)" % (fmt(d), fmt(s[0]), fmt(b[0]))
                verdict = "met" if d <= lim else "missed by %s" % fmt(d - lim)
            elif kind == "<=" and s:
                got = fmt(s[0])
                verdict = "met" if s[0] <= lim else "missed by %s" % fmt(s[0] - lim)
            md.append("| %s | %s | %s |" % (text, got, verdict))
        md.append("")
    if os.path.exists(machine):
        md.append(open(machine).read())
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
