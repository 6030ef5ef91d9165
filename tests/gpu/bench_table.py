#!/usr/bin/env python3
"""bench_table.py - the markdown tables of docs/BENCHMARKS.md from a bench_fmha.py or
bench_sparsek.py --json file.

    python3 tests/gpu/bench_table.py docs/runs/<run>.json [--tiles]

Dense: one row per shape: SparseK's time and TFLOP/s, the peers' times from the same run and
the ratios; --tiles adds each tile config's time (the sweeps). Sparse: the prefill and decode
tables (rows with a "kind")."""
import argparse
import json


def row(cells):
    print("| " + " | ".join(cells) + " |")


def header(head):
    row(head)
    print("|" + "---|" * len(head))


def fmt(x, spec):
    return "-" if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("json")
    ap.add_argument("--tiles", action="store_true")
    args = ap.parse_args()
    with open(args.json) as f:
        run = json.load(f)
    if run["rows"] and "kind" in run["rows"][0]:
        return sparse_tables(run)
    head = ["B", "H", "S", "D", "mask", "SparseK us", "TFLOP/s", "cuDNN us", "flash us", "flash/SparseK",
            "cuDNN/SparseK", "rel err", "config"]
    if args.tiles:
        head.append("tiles (us)")
    header(head)
    for r in run["rows"]:
        t = r["sparsek_us"]
        cells = [str(r["B"]), str(r["H"]), str(r["S"]), str(r["D"]), "causal" if r["causal"] else "full",
                 fmt(t, ".1f"), fmt(r["sparsek_tflops"], ".0f"), fmt(r["cudnn_us"], ".1f"), fmt(r["flash_us"], ".1f"),
                 fmt(r["flash_us"] / t if r["flash_us"] else None, ".2f") + "x",
                 fmt(r["cudnn_us"] / t if r["cudnn_us"] else None, ".2f") + "x",
                 fmt(r["rel_err"], ".1e"), "`%s`" % r["config"].replace(" dtype=bf16", "")]
        if args.tiles:
            cells.append(", ".join("%s %.1f" % kv for kv in sorted(r["tiles"].items(), key=lambda kv: kv[1])))
        row(cells)


def sparse_tables(run):
    pre = [r for r in run["rows"] if r["kind"] == "prefill"]
    dec = [r for r in run["rows"] if r["kind"] == "decode"]
    if pre:
        head = ["S", "k", "w", "SparseK us", "select share", "eff TFLOP/s", "our dense us (TFLOP/s)", "eff / dense",
                "cuDNN dense us", "Flex block-sparse us (density)", "rel err"]
        header(head)
        for r in pre:
            dense = "%s (%s)" % (fmt(r.get("dense_us"), ".0f"), fmt(r.get("dense_tflops"), ".0f"))
            flex = "%s (%s)" % (fmt(r.get("flex_us"), ".0f"), fmt(r.get("flex_density"), ".3f"))
            row([str(r["S"]), str(r["k"]), str(r["w"]), fmt(r["sparsek_us"], ".0f"),
                 fmt(100 * r["select_share"], ".1f") + "%", fmt(r["eff_tflops"], ".0f"), dense,
                 fmt(r.get("sparse_vs_dense_tflops"), ".2f"), fmt(r.get("cudnn_dense_us"), ".0f"),
                 flex, fmt(r["rel_err"], ".1e")])
        print()
    if dec:
        head = ["B", "KV", "k", "w", "SparseK us", "select us", "GB/s of bytes needed", "MB needed",
                "torch gather us", "speedup", "rel err"]
        header(head)
        for r in dec:
            row([str(r["B"]), str(r["KV"]), str(r["k"]), str(r["w"]), fmt(r["sparsek_us"], ".1f"),
                 fmt(r["select_us"], ".1f"), fmt(r["gbps"], ".0f"), fmt(r["needed_MB"], ".0f"),
                 fmt(r["torch_gather_us"], ".1f"), fmt(r["speedup_vs_torch"], ".1f") + "x",
                 fmt(r["rel_err"], ".1e")])


if __name__ == "__main__":
    main()
