#!/usr/bin/env python3
"""bench_fmha.py - time libsparsek's dense attention against PyTorch SDPA (cuDNN and flash
backends) on the same tensors, in the same process, and check the output first.

    python3 tests/gpu/bench_fmha.py --lib build/libsparsek.so [--json OUT.json] [--quick]

Calls libsparsek through ctypes on PyTorch tensors ([B, S, H, D] layout), launching on
PyTorch's current stream. Times are medians of triton.testing.do_bench (CUDA events). FLOPs
are 4*B*H*Sq*Sk*D, halved for causal (as in ../shared/design/PEERS.md)."""
import argparse
import ctypes
import json
import math
import sys
import time

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
import triton.testing

from sk_params import Params, params_from


class SparseK:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        L = self.lib
        L.sparsek_runtime_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        L.sparsek_attention_forward.argtypes = [ctypes.c_void_p, ctypes.POINTER(Params), ctypes.c_void_p]
        L.sparsek_attention_forward_with.argtypes = [ctypes.c_void_p, ctypes.POINTER(Params), ctypes.c_char_p, ctypes.c_void_p]
        L.sparsek_attention_forward_config.argtypes = [ctypes.c_void_p, ctypes.POINTER(Params), ctypes.c_char_p, ctypes.c_size_t]
        L.sparsek_last_error.argtypes = [ctypes.c_void_p]
        L.sparsek_last_error.restype = ctypes.c_char_p
        L.sparsek_status_name.restype = ctypes.c_char_p
        self.rt = ctypes.c_void_p()
        msg = ctypes.create_string_buffer(512)
        st = L.sparsek_runtime_create(ctypes.byref(self.rt), None, msg, 512)
        if st != 0:
            raise RuntimeError(msg.value.decode())

    def params(self, q, k, v, o, lse, causal):
        return params_from(q, k, v, o, lse, causal)

    def forward(self, p, tile=None):
        stream = torch.cuda.current_stream().cuda_stream
        if tile:
            st = self.lib.sparsek_attention_forward_with(self.rt, ctypes.byref(p), tile.encode(), ctypes.c_void_p(stream))
        else:
            st = self.lib.sparsek_attention_forward(self.rt, ctypes.byref(p), ctypes.c_void_p(stream))
        if st != 0:
            raise RuntimeError("%s: %s" % (self.lib.sparsek_status_name(st).decode(),
                                           self.lib.sparsek_last_error(self.rt).decode()))

    def config(self, p):
        buf = ctypes.create_string_buffer(256)
        self.lib.sparsek_attention_forward_config(self.rt, ctypes.byref(p), buf, 256)
        return buf.value.decode()


def bench(fn):
    return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") * 1e3  # us


def run(args):
    sk = SparseK(args.lib)
    dev = torch.cuda.get_device_properties(0)
    rows = []
    grid = []
    for d in ([int(x) for x in args.dims.split(",")] if args.dims else (64, 128)):
        for s in (512, 1024, 2048, 4096, 8192, 16384):
            for causal in (False, True):
                grid.append((16384 // s, 2048 // d, s, d, causal))
    seeds = [(1, 8, 512, 64, False), (1, 8, 512, 64, True), (1, 96, 512, 64, False), (1, 96, 512, 64, True)]
    shapes = seeds + grid
    if args.quick:
        shapes = seeds[:2] + [g for g in grid if g[2] in (2048,)]
    dtype = torch.bfloat16
    for (b, h, s, d, causal) in shapes:
        torch.manual_seed(0)
        q = torch.randn(b, s, h, d, device="cuda", dtype=dtype)
        k = torch.randn(b, s, h, d, device="cuda", dtype=dtype)
        v = torch.randn(b, s, h, d, device="cuda", dtype=dtype)
        o = torch.full_like(q, float("nan"))
        p = sk.params(q, k, v, o, None, causal)
        qt, kt, vt = (x.transpose(1, 2) for x in (q, k, v))  # SDPA wants [B, H, S, D]
        ref = F.scaled_dot_product_attention(qt.float(), kt.float(), vt.float(), is_causal=causal).transpose(1, 2)
        # Each tile config: check the output, then time it; the fastest correct one is reported.
        t_sk, rel, best, tried = float("inf"), float("nan"), None, {}
        for tile in (args.tiles.split(";") if args.tiles else [""]):
            try:
                o.fill_(float("nan"))
                sk.forward(p, tile)  # compiles on first use (outside the timing)
                torch.cuda.synchronize()
            except RuntimeError as e:
                print("  tile '%s': %s" % (tile, str(e).splitlines()[0]), file=sys.stderr)
                continue
            r = ((o.float() - ref).norm() / ref.norm()).item()
            if not r <= 1.5e-2:
                print("  tile '%s': WRONG rel=%.2e" % (tile, r), file=sys.stderr)
                continue
            t = bench(lambda: sk.forward(p, tile))
            tried[tile or "default"] = t
            if t < t_sk:
                t_sk, rel, best = t, r, tile
        peer = {}
        for name, backend in (("cudnn", SDPBackend.CUDNN_ATTENTION), ("flash", SDPBackend.FLASH_ATTENTION)):
            try:
                with sdpa_kernel(backend):
                    F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal)
                    peer[name] = bench(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=causal))
            except RuntimeError as e:
                peer[name] = None
                print("  %s unavailable: %s" % (name, str(e).splitlines()[0]), file=sys.stderr)
        flops = 4.0 * b * h * s * s * d / (2 if causal else 1)
        row = dict(B=b, H=h, S=s, D=d, causal=causal, rel_err=rel, sparsek_us=t_sk,
                   cudnn_us=peer.get("cudnn"), flash_us=peer.get("flash"),
                   sparsek_tflops=flops / t_sk / 1e6, config=sk.config(p), tile=best or "default", tiles=tried)
        rows.append(row)
        print("B=%-2d H=%-2d S=%-5d D=%-3d %-6s sparsek %8.1f us %5.0f TF/s | cudnn %8.1f | flash %8.1f | "
              "vs flash %.2fx vs cudnn %.2fx | rel %.1e %s" % (
                  b, h, s, d, "causal" if causal else "full", t_sk, row["sparsek_tflops"],
                  peer.get("cudnn") or float("nan"), peer.get("flash") or float("nan"),
                  (peer.get("flash") or float("nan")) / t_sk, (peer.get("cudnn") or float("nan")) / t_sk, rel,
                  best or ""),
              flush=True)
        if len(tried) > 1:
            print("    tiles: " + ", ".join("%s %.1f" % (k, t) for k, t in sorted(tried.items(), key=lambda kv: kv[1])),
                  flush=True)
        del q, k, v, o, qt, kt, vt, ref
    meta = dict(device=dev.name, sms=dev.multi_processor_count, torch=torch.__version__,
                cudnn=torch.backends.cudnn.version(), date=time.strftime("%Y-%m-%d"), dtype="bf16")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
    return rows


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--tiles", help="';'-separated tile configs to sweep, e.g. 'm=128 n=64;m=64 warps=4'")
    ap.add_argument("--dims", help="comma-separated head dims of the grid to run (default 64,128)")
    run(ap.parse_args())
