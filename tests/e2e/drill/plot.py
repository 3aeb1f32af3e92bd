"""Draws a drill: what the load saw over time, with the drill's events on it.

    /usr/bin/python3 plot.py DIR [--events FILE] [-o OUT.png] [--title TEXT]

DIR holds history.jsonl, written by tests/e2e/js/drill/load.mjs (one SDK call a line: t0, t1 in
seconds since the load started, op, ok, status, code, region, latency_ms); events default to
DIR/events.json ([{"t": seconds, "label": "kill -9 kluisd-1"}, ...], optional) and the picture
to DIR/drill.png. Debian's python3-matplotlib (Agg: no display needed).

Top: calls that succeeded, per operation, per 250 ms (by the time they ended), as calls a
second; calls that failed as red crosses (how many in that 250 ms, as a rate too). Bottom: each
call's latency (log scale) at the time it started, coloured by the region whose reply the SDK
received last (grey: no reply at all), failures again as red crosses. Any number of regions: the
first seen is blue, the second orange (with two regions, the second's replies are the read-only
failover), and so on. Events are dotted vertical lines, labelled at the top.
"""

import argparse
import collections
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after use())
from PIL import Image  # noqa: E402 (Pillow: a dependency of python3-matplotlib)

BUCKET_S = 0.25
OPS = ("read", "write", "sign")
OP_COLOUR = {"read": "#2a7ab9", "write": "#2e9e44", "sign": "#8a4fbf"}
OP_MARKER = {"read": "o", "write": "s", "sign": "^"}
REGION_COLOURS = ["#1f77b4", "#ff7f0e", "#17becf", "#bcbd22", "#8c564b"]
NO_REPLY = "#9a9a9a"


def load_history(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def load_events(path):
    if not path or not os.path.exists(path):
        return []
    with open(path) as f:
        return sorted(json.load(f), key=lambda e: e["t"])


def plot(history, events, out, title=None):
    end = max([h["t1"] for h in history] + [e["t"] for e in events] + [1.0])
    nb = int(end / BUCKET_S) + 1
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6.2), sharex=True, dpi=90,
                                      gridspec_kw={"height_ratios": [1, 1.25]})

    # --- top: successes per op, failures ------------------------------------------------------
    xs = [(i + 0.5) * BUCKET_S for i in range(nb)]
    for op in OPS:
        counts = [0] * nb
        for h in history:
            if h["op"] == op and h["ok"]:
                counts[int(h["t1"] / BUCKET_S)] += 1
        if any(counts):
            top.plot(xs, [c / BUCKET_S for c in counts], "-", lw=0.9, color=OP_COLOUR[op],
                     marker=".", ms=2, label=f"{op} ok")
    fails = collections.Counter((h["op"], int(h["t1"] / BUCKET_S)) for h in history if not h["ok"])
    nfail = collections.Counter(h["op"] for h in history if not h["ok"])
    for op in OPS:
        pts = [((b + 0.5) * BUCKET_S, n / BUCKET_S) for (o, b), n in fails.items() if o == op]
        if pts:
            top.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="none", marker="X",
                     ms=7, mec="white", mew=0.5, color="#d62728",
                     label=f"{op} failed ({nfail[op]})")
    top.set_ylabel(f"calls/s (per {int(BUCKET_S * 1000)} ms)")
    top.set_ylim(bottom=0)
    top.grid(True, alpha=0.3)
    top.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7, frameon=False)

    # --- bottom: latency, by region --------------------------------------------------------------
    regions = []
    for h in history:
        r = h.get("region")
        if r is not None and r not in regions:
            regions.append(r)
    colour = {r: REGION_COLOURS[i % len(REGION_COLOURS)] for i, r in enumerate(regions)}
    for op in OPS:
        for r in regions + [None]:
            pts = [h for h in history if h["op"] == op and h["ok"] and h.get("region") == r]
            if not pts:
                continue
            bottom.scatter([h["t0"] for h in pts], [max(h["latency_ms"], 0.5) for h in pts],
                           s=7, marker=OP_MARKER[op], color=colour.get(r, NO_REPLY),
                           linewidths=0)
    bad = [h for h in history if not h["ok"]]
    if bad:
        bottom.scatter([h["t0"] for h in bad], [max(h["latency_ms"], 0.5) for h in bad], s=40,
                       marker="X", color="#d62728", edgecolors="white", linewidths=0.5,
                       zorder=3)
    bottom.set_yscale("log")
    bottom.set_ylabel("latency (ms), at the call's start")
    bottom.set_xlabel("seconds since the load started")
    bottom.grid(True, which="major", alpha=0.3)
    handles = [plt.Line2D([], [], linestyle="none", marker="o", ms=5, color=colour[r],
                          label=f"answered by region {r}") for r in regions]
    if any(h.get("region") is None for h in history):
        handles.append(plt.Line2D([], [], linestyle="none", marker="o", ms=5, color=NO_REPLY,
                                  label="no reply"))
    handles += [plt.Line2D([], [], linestyle="none", marker=OP_MARKER[op], ms=5, color="#555555",
                           label=op) for op in OPS]
    if bad:
        handles.append(plt.Line2D([], [], linestyle="none", marker="X", ms=7, color="#d62728",
                                  label="failed"))
    bottom.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=7,
                  frameon=False)

    # --- events --------------------------------------------------------------------------------
    for i, e in enumerate(events):
        for ax in (top, bottom):
            ax.axvline(e["t"], color="#444444", lw=0.8, ls=":")
        top.annotate(e["label"], xy=(e["t"], 1.0), xycoords=("data", "axes fraction"),
                     xytext=(2, -2 - 9 * (i % 3)), textcoords="offset points", fontsize=7,
                     va="top", ha="left", color="#222222",
                     bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                           "alpha": 0.8})
    bottom.set_xlim(0, end + 0.5)
    n = collections.Counter(h["op"] for h in history)
    ok = sum(1 for h in history if h["ok"])
    fig.suptitle(title or f"{len(history)} SDK calls ({', '.join(f'{n[o]} {o}' for o in OPS)}), "
                 f"{len(history) - ok} failed", fontsize=10)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    # A palette of 128 colours keeps the picture small enough for the docs (a third the size).
    with Image.open(out) as im:
        small = im.convert("RGB").quantize(colors=128, method=Image.Quantize.FASTOCTREE,
                                           dither=Image.Dither.NONE)
    small.save(out, optimize=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="the load's output directory (history.jsonl)")
    ap.add_argument("--events", help="events.json (default DIR/events.json)")
    ap.add_argument("-o", "--out", help="the PNG to write (default DIR/drill.png)")
    ap.add_argument("--title")
    a = ap.parse_args(argv)
    history = load_history(os.path.join(a.dir, "history.jsonl"))
    if not history:
        print("plot.py: history.jsonl is empty", file=sys.stderr)
        return 1
    events = load_events(a.events or os.path.join(a.dir, "events.json"))
    out = a.out or os.path.join(a.dir, "drill.png")
    plot(history, events, out, a.title)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
