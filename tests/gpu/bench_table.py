#!/usr/bin/env python3
"""bench_table.py - the markdown table of docs/BENCHMARKS.md from a bench_fmha.py --json file.

    python3 tests/gpu/bench_table.py docs/runs/<run>.json [--tiles]

One row per shape: SparseK's time and TFLOP/s, the peers' times from the same run and the
ratios; --tiles adds each tile config's time (the sweeps)."""
import argparse
import json


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--tiles", action="store_true")
    args = ap.parse_args()
    with open(args.json) as f:
        run = json.load(f)
    head = ["B", "H", "S", "D", "mask", "SparseK us", "TFLOP/s", "cuDNN us", "flash us", "flash/SparseK",
            "cuDNN/SparseK", "rel err", "config"]
    if args.tiles:
        head.append("tiles (us)")
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in run["rows"]:
        t = r["sparsek_us"]
        cells = [str(r["B"]), str(r["H"]), str(r["S"]), str(r["D"]), "causal" if r["causal"] else "full",
                 fmt(t, ".1f"), fmt(r["sparsek_tflops"], ".0f"), fmt(r["cudnn_us"], ".1f"), fmt(r["flash_us"], ".1f"),
                 fmt(r["flash_us"] / t if r["flash_us"] else None, ".2f") + "x",
                 fmt(r["cudnn_us"] / t if r["cudnn_us"] else None, ".2f") + "x",
                 fmt(r["rel_err"], ".1e"), "`%s`" % r["config"].replace(" dtype=bf16", "")]
        if args.tiles:
            cells.append(", ".join("%s %.1f" % kv for kv in sorted(r["tiles"].items(), key=lambda kv: kv[1])))
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
