#!/usr/bin/env python3
"""top_lines.py CSV [N]: the N CUDA lines with the most warp stall samples from an
`ncu --page source --csv --print-source cuda` export, with their share of the samples and of the
executed instructions and their three largest stall reasons."""
import csv, sys

def num(x):
    try:
        return float(str(x).replace(",", ""))
    except ValueError:
        return 0.0

rows = list(csv.reader(open(sys.argv[1], newline="")))
n = int(sys.argv[2]) if len(sys.argv) > 2 else 40
hi = next(i for i, r in enumerate(rows) if any(c.strip() == "Source" for c in r))
head = rows[hi]
src = head.index("Source")
line = next((i for i, c in enumerate(head) if c.strip() in ("#", "Line", "# Line")), None)
samp = next(i for i, c in enumerate(head) if c.startswith("Warp Stall Sampling (All"))
inst = next((i for i, c in enumerate(head) if c.startswith("Instructions Executed")), None)
stalls = [i for i, c in enumerate(head) if "stall_" in c.lower() or c.lower().startswith("stall")]
body = [r for r in rows[hi + 1:] if len(r) == len(head)]
ts = sum(num(r[samp]) for r in body) or 1.0
ti = sum(num(r[inst]) for r in body) if inst is not None else 1.0
print(f"total samples {ts:.0f} instr {ti:.0f}; stall columns: {[head[i] for i in stalls][:12]}")
tot = {}
for r in body:
    for i in stalls:
        tot[head[i]] = tot.get(head[i], 0) + num(r[i])
print(sorted(((v, k) for k, v in tot.items()), reverse=True)[:10])
for r in sorted(body, key=lambda r: -num(r[samp]))[:n]:
    top = sorted(((num(r[i]), head[i]) for i in stalls), reverse=True)[:3]
    li = r[line] if line is not None else "?"
    print(f"{100 * num(r[samp]) / ts:5.1f}% {100 * num(r[inst]) / ti if inst is not None else 0:5.1f}%i L {li:>4} "
          f"{[(int(v), k) for v, k in top]}: {r[src].strip()[:150]}")
