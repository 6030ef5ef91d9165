#!/usr/bin/env python3
"""profile_fmha.py - one dense attention shape, a few launches of our kernel and of PyTorch's
flash (FlashAttention-2) and cuDNN backends, for a profiler to pick up (no timing here):

    ncu --clock-control none -k regex:'sparsek_fmha|flash' --launch-skip 2 --launch-count 1 \\
        python3 tests/gpu/profile_fmha.py --lib devbin/libsparsek.so --shape 4,16,4096,128,0 \\
        --tiles 'path=mma m=128 n=64 warps=4'
"""
import argparse

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench_fmha import SparseK


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--shape", default="4,16,4096,128,0", help="B,H,S,D,causal")
    ap.add_argument("--tiles", default="", help="tile config of our kernel (default: the library's choice)")
    ap.add_argument("--launches", type=int, default=4)
    args = ap.parse_args()
    b, h, s, d, causal = (int(x) for x in args.shape.split(","))
    sk = SparseK(args.lib)
    q, k, v = (torch.randn(b, s, h, d, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    o = torch.empty_like(q)
    p = sk.params(q, k, v, o, None, bool(causal))
    for _ in range(args.launches):
        sk.forward(p, args.tiles)
    qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        with sdpa_kernel(backend):
            for _ in range(args.launches):
                F.scaled_dot_product_attention(qt, kt, vt, is_causal=bool(causal))
    torch.cuda.synchronize()
    print("config:", sk.config(p))


if __name__ == "__main__":
    main()
