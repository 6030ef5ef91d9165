#!/usr/bin/env python3
"""bench_sparsek.py - time libsparsek's SparseK attention (selection + sparse prefill, decode)
against its own dense kernel, cuDNN SDPA, FlexAttention block-sparse at the same key fraction
and a PyTorch gather-top-k decode, all on the same device in one process; check outputs first.

    python3 tests/gpu/bench_sparsek.py --lib build/libsparsek.so [--json OUT.json] [--quick]

Prefill: B=1, Hq=32, Hkv=8, D=128, bf16, S in {8192, 32768, 131072}, (k, w) in {(2048, 512),
(1024, 256)}, GATE weights, N(0,1) scores. Reported: our time, the selection's share of it
(the selection launched alone), effective TFLOP/s = 4*B*S*(k+w)*D*Hq / time, our dense causal
kernel and cuDNN SDPA (causal) at the same S, FlexAttention with random 128x128 blocks kept at
the same key fraction (k+w)/S plus the diagonal (as ../shared/tools/peers_flex_sparse.py).
Decode: B=8, Hq=32, Hkv=8, D=128, KV in {32768, 131072}, k=2048, w=512: time, GB/s of the bytes
actually needed (the k+w selected K and V rows per KV head), and the PyTorch gather baseline
(topk, gather, SDPA) timed in the same run; and the same decode through a decode state
(sparsek_sparse_attention_decode) as a generation loop calls it, one key more a call. Times: medians of triton.testing.do_bench (CUDA
events) for short calls; the mean of a few event-timed calls for calls over 20 ms."""
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


class SparseParams(ctypes.Structure):
    # Mirrors sparsek_sparse_attention_params.
    _fields_ = [
        ("base", Params), ("scores", ctypes.c_void_p), ("score_stride", ctypes.c_int64 * 2),
        ("topk", ctypes.c_int), ("window", ctypes.c_int), ("weight", ctypes.c_int),
    ]


class DecodeState(ctypes.Structure):
    # Mirrors sparsek_sparse_decode_state.
    _fields_ = [("data", ctypes.c_void_p), ("bytes", ctypes.c_size_t), ("max_seqlen_k", ctypes.c_int),
                ("rebuild", ctypes.c_int)]


WEIGHT = {"gate": 0, "hard": 1, "kv": 2}


class SparseK:
    def __init__(self, path):
        self.lib = ctypes.CDLL(path)
        L = self.lib
        L.sparsek_runtime_create.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        L.sparsek_attention_forward.argtypes = [ctypes.c_void_p, ctypes.POINTER(Params), ctypes.c_void_p]
        for f in ("sparsek_sparse_attention_forward", "sparsek_sparse_attention_select"):
            getattr(L, f).argtypes = [ctypes.c_void_p, ctypes.POINTER(SparseParams), ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        L.sparsek_sparse_attention_forward_with.argtypes = [ctypes.c_void_p, ctypes.POINTER(SparseParams), ctypes.c_void_p,
                                                            ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
        self.tiles = None  # tile keys of the prefill kernel (--tiles), None: the default
        L.sparsek_sparse_attention_scratch_size.argtypes = [ctypes.c_void_p, ctypes.POINTER(SparseParams), ctypes.POINTER(ctypes.c_size_t)]
        L.sparsek_sparse_decode_state_size.argtypes = [ctypes.c_void_p, ctypes.POINTER(SparseParams), ctypes.c_int,
                                                       ctypes.POINTER(ctypes.c_size_t)]
        L.sparsek_sparse_decode_state_reset.argtypes = [ctypes.c_void_p, ctypes.POINTER(DecodeState), ctypes.c_void_p]
        L.sparsek_sparse_attention_decode.argtypes = [ctypes.c_void_p, ctypes.POINTER(SparseParams), ctypes.POINTER(DecodeState),
                                                      ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
        L.sparsek_last_error.argtypes = [ctypes.c_void_p]
        L.sparsek_last_error.restype = ctypes.c_char_p
        L.sparsek_status_name.restype = ctypes.c_char_p
        self.rt = ctypes.c_void_p()
        msg = ctypes.create_string_buffer(512)
        if L.sparsek_runtime_create(ctypes.byref(self.rt), None, msg, 512) != 0:
            raise RuntimeError(msg.value.decode())

    def check(self, st):
        if st != 0:
            raise RuntimeError("%s: %s" % (self.lib.sparsek_status_name(st).decode(),
                                           self.lib.sparsek_last_error(self.rt).decode()))

    @staticmethod
    def params(q, k, v, o, causal=False):
        return params_from(q, k, v, o, None, causal)

    def sparse_params(self, q, k, v, o, u, topk, window, weight="gate"):
        sp = SparseParams()
        sp.base = self.params(q, k, v, o)
        sp.scores = u.data_ptr()
        sp.score_stride[:] = [u.stride(0), u.stride(1)]
        sp.topk, sp.window, sp.weight = topk, window, WEIGHT[weight]
        n = ctypes.c_size_t()
        self.check(self.lib.sparsek_sparse_attention_scratch_size(self.rt, ctypes.byref(sp), ctypes.byref(n)))
        scratch = torch.empty(max(n.value, 16), dtype=torch.uint8, device="cuda")
        return sp, scratch

    def stream(self):
        return ctypes.c_void_p(torch.cuda.current_stream().cuda_stream)

    def sparse(self, sp, scratch, tiles=None):
        tiles = tiles if tiles is not None else self.tiles
        self.check(self.lib.sparsek_sparse_attention_forward_with(
            self.rt, ctypes.byref(sp), ctypes.c_void_p(scratch.data_ptr()), scratch.numel(),
            tiles.encode() if tiles else None, self.stream()))

    def select(self, sp, scratch):
        self.check(self.lib.sparsek_sparse_attention_select(self.rt, ctypes.byref(sp), ctypes.c_void_p(scratch.data_ptr()),
                                                            scratch.numel(), self.stream()))

    def decode_state(self, sp, max_seqlen_k):
        n = ctypes.c_size_t()
        self.check(self.lib.sparsek_sparse_decode_state_size(self.rt, ctypes.byref(sp), max_seqlen_k, ctypes.byref(n)))
        mem = torch.empty(n.value, dtype=torch.uint8, device="cuda")
        st = DecodeState(mem.data_ptr(), n.value, max_seqlen_k)
        st.mem = mem  # keeps the memory alive with the struct
        return st

    def state_reset(self, st):
        self.check(self.lib.sparsek_sparse_decode_state_reset(self.rt, ctypes.byref(st), self.stream()))

    def decode_step(self, sp, st, scratch):
        self.check(self.lib.sparsek_sparse_attention_decode(self.rt, ctypes.byref(sp), ctypes.byref(st),
                                                            ctypes.c_void_p(scratch.data_ptr()), scratch.numel(), self.stream()))

    def dense(self, p):
        self.check(self.lib.sparsek_attention_forward(self.rt, ctypes.byref(p), self.stream()))


def bench(fn):
    """Median us: do_bench for short calls, the mean of a few event-timed calls for long ones."""
    fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    once = time.perf_counter() - t0
    if once < 0.02:
        return triton.testing.do_bench(fn, warmup=25, rep=100, return_mode="median") * 1e3
    n = 3 if once < 0.2 else 1
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(n):
        fn()
    e.record()
    torch.cuda.synchronize()
    return s.elapsed_time(e) / n * 1e3


def first_call(sk, st, sp, scratch):
    """A sequence's first call on a decode state (rebuild = 1)."""
    st.rebuild = 1
    sk.decode_step(sp, st, scratch)
    st.rebuild = 0


def state_loop(sk, st, sp_at, scratch, o):
    """A generation loop on a decode state: the first call at sp_at[0], then the calls sp_at[1:]
    timed together. Three rounds; the median's GPU and host time a call (us)."""
    rounds = []
    for _ in range(3):
        first_call(sk, st, sp_at[0], scratch)
        o.fill_(float("nan"))
        ev0, ev1 = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ev0.record()
        h0 = time.perf_counter()
        for spn in sp_at[1:]:
            sk.decode_step(spn, st, scratch)
        h1 = time.perf_counter()
        ev1.record()
        torch.cuda.synchronize()
        n = len(sp_at) - 1
        rounds.append((ev0.elapsed_time(ev1) * 1e3 / n, (h1 - h0) * 1e6 / n))
    return sorted(rounds)[1]


def ref_rows(q, k, v, u, rows, topk, window, weight, b=0, h=0):
    """float64 reference (SPARSEK.md) of some query rows of head h, on the GPU with torch."""
    B, Sq, Hq, D = q.shape
    Sk, Hkv = k.shape[1], k.shape[2]
    kh = h // (Hq // Hkv)
    scale = 1.0 / math.sqrt(D)
    out = []
    uu = u[b, kh].double()
    for i in rows:
        pos = Sk - Sq + i
        lo = max(0, pos - window + 1)
        keys = list(range(lo, pos + 1))
        wts = [1.0] * len(keys)
        n = lo
        if n > 0:
            c = uu[:n]
            if n <= topk:
                sel, m = torch.arange(n, device=c.device), torch.ones(n, dtype=torch.float64, device=c.device)
            else:
                vals, sel = torch.topk(c, topk)
                theta = vals[-1]
                tl, th = theta - 1, theta
                for _ in range(80):
                    t = (tl + th) / 2
                    if (c - t).clamp(0, 1).sum() >= topk:
                        tl = t
                    else:
                        th = t
                m = (vals - (tl + th) / 2).clamp(0, 1)
            keys += sel.tolist()
            wts += (m if weight != "hard" else torch.ones_like(m)).tolist()
        kidx = torch.tensor(keys, device=q.device)
        wt = torch.tensor(wts, dtype=torch.float64, device=q.device)
        kk, vv = k[b, kidx, kh].double(), v[b, kidx, kh].double()
        dot = kk @ q[b, i, h].double()
        if weight == "kv":
            s, vv = scale * wt * dot, vv * wt[:, None]
        else:
            s = scale * dot + torch.log(wt)
        out.append(torch.softmax(s, 0) @ vv)
    return torch.stack(out)


_flex = None


def flex_block_sparse(S, H, D, density, dt):
    """FlexAttention with random 128x128 blocks at `density` plus the diagonal (non-causal)."""
    global _flex
    from torch.nn.attention.flex_attention import flex_attention, create_block_mask
    if _flex is None:  # one compiled wrapper: shapes it has seen are not compiled again
        # (`import torch._dynamo` here would make `torch` a local name of this function and
        # break every later call: run 10 lost its Flex rows to that.)
        import torch._dynamo as dynamo
        for name in ("recompile_limit", "cache_size_limit"):
            if hasattr(dynamo.config, name):
                setattr(dynamo.config, name, 64)
        _flex = torch.compile(flex_attention, dynamic=False)
    flex = _flex
    q, k, v = (torch.randn(1, H, S, D, device="cuda", dtype=dt) for _ in range(3))
    nb = S // 128
    g = torch.Generator(device="cuda").manual_seed(1)
    keep = (torch.rand(H, nb, nb, device="cuda", generator=g) < density) | torch.eye(nb, dtype=torch.bool, device="cuda")[None]

    def mm(bb, hh, qi, ki):
        return keep[hh, qi // 128, ki // 128]

    bm = create_block_mask(mm, None, H, S, S, BLOCK_SIZE=128, _compile=True)
    t = bench(lambda: flex(q, k, v, block_mask=bm))
    kept = keep.float().mean().item()
    return t, kept


def prefill(sk, S, topk, window, dt, rows_out, with_peers):
    B, Hq, Hkv, D = 1, 32, 8, 128
    torch.manual_seed(0)
    q = torch.randn(B, S, Hq, D, device="cuda", dtype=dt)
    k = torch.randn(B, S, Hkv, D, device="cuda", dtype=dt)
    v = torch.randn(B, S, Hkv, D, device="cuda", dtype=dt)
    u = torch.randn(B, Hkv, S, device="cuda", dtype=torch.float32)
    o = torch.full_like(q, float("nan"))
    sp, scratch = sk.sparse_params(q, k, v, o, u, topk, window)
    sk.sparse(sp, scratch)  # compiles on first use (outside the timing)
    torch.cuda.synchronize()
    rows = [0, 1, window, window + topk, S // 2, S - 1]
    ref = ref_rows(q, k, v, u, rows, topk, window, "gate", h=5)
    got = o[0, rows, 5].double()
    rel = ((got - ref).norm() / ref.norm()).item()
    nan = torch.isnan(o).any().item()
    t = bench(lambda: sk.sparse(sp, scratch))
    t_sel = bench(lambda: sk.select(sp, scratch))
    flops = 4.0 * B * S * (topk + window) * D * Hq
    row = dict(kind="prefill", B=B, Hq=Hq, Hkv=Hkv, D=D, S=S, k=topk, w=window, dtype=str(dt).split(".")[-1],
               rel_err=rel, nan=nan, sparsek_us=t, select_us=t_sel, select_share=t_sel / t,
               eff_tflops=flops / t / 1e6)
    if with_peers:
        # Our dense kernel and cuDNN SDPA, causal, same shape (K/V repeated for SDPA's GQA).
        od = torch.empty_like(q)
        pd = sk.params(q, k, v, od, causal=True)
        sk.dense(pd)
        torch.cuda.synchronize()
        dflops = 4.0 * B * Hq * S * S * D / 2
        row["dense_us"] = bench(lambda: sk.dense(pd))
        row["dense_tflops"] = dflops / row["dense_us"] / 1e6
        qt = q.transpose(1, 2)
        kt = k.transpose(1, 2).repeat_interleave(Hq // Hkv, 1)
        vt = v.transpose(1, 2).repeat_interleave(Hq // Hkv, 1)
        try:
            with sdpa_kernel(SDPBackend.CUDNN_ATTENTION):
                row["cudnn_dense_us"] = bench(lambda: F.scaled_dot_product_attention(qt, kt, vt, is_causal=True))
        except RuntimeError as e:
            print("  cudnn unavailable: %s" % str(e).splitlines()[0], file=sys.stderr)
        del kt, vt, od
        try:
            density = (topk + window) / S
            row["flex_us"], row["flex_density"] = flex_block_sparse(S, Hq, D, density, dt)
            row["flex_eff_tflops"] = 4.0 * Hq * S * S * D * row["flex_density"] / row["flex_us"] / 1e6
        except Exception as e:  # flex needs triton and a compile; report and go on
            print("  flex unavailable: %s" % str(e).splitlines()[0], file=sys.stderr)
        row["sparse_vs_dense_tflops"] = row["eff_tflops"] / row["dense_tflops"]
    rows_out.append(row)
    print("prefill S=%-6d k=%-4d w=%-3d sparsek %9.1f us (select %5.1f%%) %5.0f TF/s eff | dense ours %s | cudnn %s | "
          "flex %s | rel %.1e%s" % (
              S, topk, window, t, 100 * t_sel / t, row["eff_tflops"],
              "%.1f us %.0f TF/s" % (row["dense_us"], row["dense_tflops"]) if "dense_us" in row else "-",
              "%.1f us" % row["cudnn_dense_us"] if "cudnn_dense_us" in row else "-",
              "%.1f us" % row["flex_us"] if "flex_us" in row else "-", rel, " NaN!" if nan else ""), flush=True)


def decode(sk, KV, dt, rows_out, decode_tiles=None):
    bsz, hq, hkv, d, topk, w = 8, 32, 8, 128, 2048, 512
    torch.manual_seed(0)
    K = torch.randn(bsz, KV, hkv, d, device="cuda", dtype=dt)
    V = torch.randn_like(K)
    u = torch.randn(bsz, hkv, KV, device="cuda")
    q = torch.randn(bsz, 1, hq, d, device="cuda", dtype=dt)
    o = torch.empty_like(q)  # poisoned before each config below
    sp, scratch = sk.sparse_params(q, K, V, o, u, topk, w)
    ref = torch.stack([ref_rows(q, K, V, u, [0], topk, w, "gate", b=b, h=h)[0] for b in (0, 7) for h in (0, 13, 31)])
    # Each decode tile config (--decode-tiles, ';'-separated; "" = the default): checked on
    # poisoned output, then timed; the fastest correct one is reported.
    t, rel, best, tried, nan = float("inf"), float("nan"), "", {}, False
    for tiles in (decode_tiles.split(";") if decode_tiles else [""]):
        o.fill_(float("nan"))
        try:
            sk.sparse(sp, scratch, tiles)
            torch.cuda.synchronize()
        except RuntimeError as e:
            print("  decode tiles '%s': %s" % (tiles, str(e).splitlines()[0]), file=sys.stderr)
            continue
        got = torch.stack([o[b, 0, h].double() for b in (0, 7) for h in (0, 13, 31)])
        r = ((got - ref).norm() / ref.norm()).item()
        if torch.isnan(o).any().item() or not r <= 1.5e-2:  # wrong: reported, not timed
            tried[tiles or "default"] = None
            print("  decode tiles '%s': WRONG rel=%.2e" % (tiles, r), file=sys.stderr)
            nan = True
            continue
        tt = bench(lambda: sk.sparse(sp, scratch, tiles))
        tried[tiles or "default"] = tt
        if tt < t:
            t, rel, best = tt, r, tiles
    t_sel = bench(lambda: sk.select(sp, scratch))
    # The PyTorch baseline: what a user writes (peers_flex_sparse.py), [B, H, S, D] layout.
    Kt, Vt, qt = K.transpose(1, 2).contiguous(), V.transpose(1, 2).contiguous(), q.transpose(1, 2)

    def step():
        idx = u[..., : KV - w].topk(topk, dim=-1).indices
        idx = torch.cat([idx, torch.arange(KV - w, KV, device="cuda").expand(bsz, hkv, w)], -1)
        Ks = torch.gather(Kt, 2, idx[..., None].expand(-1, -1, -1, d))
        Vs = torch.gather(Vt, 2, idx[..., None].expand(-1, -1, -1, d))
        Ks = Ks.repeat_interleave(hq // hkv, 1)
        Vs = Vs.repeat_interleave(hq // hkv, 1)
        return F.scaled_dot_product_attention(qt, Ks, Vs)

    t_torch = bench(step)
    # The decode-state path (sparsek_sparse_attention_decode), as a generation loop runs it: a
    # state built at KV - R (the first call, rebuild = 1: the selection from the whole score row
    # on the split selection's lists; timed alone, and also the one-kernel rebuild a zeroed state
    # gets), then R calls at KV - R + 1 .. KV, one key more each, timed together (three rounds,
    # the median); the last call's output (at KV) is checked like the others.
    R = 64
    st = sk.decode_state(sp, KV)
    sp_at = []
    for n in range(KV - R, KV + 1):
        spn = SparseParams.from_buffer_copy(sp)
        spn.base.seqlen_k = n   # strides stay those of the full tensors
        sp_at.append(spn)

    def rebuild_zeroed():
        sk.state_reset(st)
        sk.decode_step(sp_at[0], st, scratch)

    t_rebuild = bench(lambda: first_call(sk, st, sp_at[0], scratch))
    t_rebuild_zeroed = bench(rebuild_zeroed)
    t_state, t_host = state_loop(sk, st, sp_at, scratch, o)
    got = torch.stack([o[b, 0, h].double() for b in (0, 7) for h in (0, 13, 31)])
    rel_state = ((got - ref).norm() / ref.norm()).item()
    nan_state = torch.isnan(o).any().item()
    # Four query rows a call (speculative decoding, multi-token prediction): the state kernel's
    # general path. 16 calls of 4 keys more each, to KV; the last call's rows 0 and 3 checked.
    q4 = torch.randn(bsz, 4, hq, d, device="cuda", dtype=dt)
    o4 = torch.empty_like(q4)
    sp4, scratch4 = sk.sparse_params(q4, K, V, o4, u, topk, w)
    st4 = sk.decode_state(sp4, KV)
    sp4_at = []
    for n in range(KV - 64, KV + 1, 4):
        spn = SparseParams.from_buffer_copy(sp4)
        spn.base.seqlen_k = n
        sp4_at.append(spn)
    t_state4, _ = state_loop(sk, st4, sp4_at, scratch4, o4)
    ref4 = torch.stack([ref_rows(q4, K, V, u, [0, 3], topk, w, "gate", b=b, h=h) for b in (0, 7) for h in (0, 13)])
    got4 = torch.stack([o4[b, [0, 3], h].double() for b in (0, 7) for h in (0, 13)])
    rel_state4 = ((got4 - ref4).norm() / ref4.norm()).item()
    nan_state4 = torch.isnan(o4).any().item()
    need = bsz * hkv * (topk + w) * d * 2 * 2
    row = dict(kind="decode", B=bsz, Hq=hq, Hkv=hkv, D=d, KV=KV, k=topk, w=w, rel_err=rel,
               nan=nan, sparsek_us=t, select_us=t_sel, needed_MB=need / 1e6,
               gbps=need / t / 1e3, torch_gather_us=t_torch, speedup_vs_torch=t_torch / t,
               tile=best or "default", tiles=tried, state_step_us=t_state, state_host_us=t_host,
               state_rebuild_us=t_rebuild, state_rebuild_zeroed_us=t_rebuild_zeroed, state_rel_err=rel_state, state_nan=nan_state,
               state_gbps=need / t_state / 1e3, state_speedup_vs_torch=t_torch / t_state,
               state_sq4_us=t_state4, state_sq4_rel_err=rel_state4, state_sq4_nan=nan_state4)
    rows_out.append(row)
    print("decode  KV=%-6d sparsek %7.1f us (select %5.1f us) %6.0f GB/s of %.0f MB needed | torch gather %7.1f us: "
          "%.1fx | rel %.1e %s" % (KV, t, t_sel, row["gbps"], need / 1e6, t_torch, t_torch / t, rel, best), flush=True)
    print("decode  KV=%-6d decode state: %7.1f us a step (host %.1f us a call), %6.0f GB/s, %.1fx the gather baseline; "
          "first call %.1f us (a zeroed state: %.1f us) | rel %.1e%s" % (
              KV, t_state, t_host, row["state_gbps"], t_torch / t_state, t_rebuild, t_rebuild_zeroed, rel_state,
              " NaN!" if nan_state else ""), flush=True)
    print("decode  KV=%-6d decode state, Sq=4: %7.1f us a call (4 keys more a call) | rel %.1e%s" % (
        KV, t_state4, rel_state4, " NaN!" if nan_state4 else ""), flush=True)
    if len(tried) > 1:
        print("    decode tiles: " + ", ".join("%s %s" % (k, "WRONG" if v is None else "%.1f" % v) for k, v in tried.items()),
              flush=True)


def run(args):
    sk = SparseK(args.lib)
    sk.tiles = args.tiles
    dev = torch.cuda.get_device_properties(0)
    dt = torch.bfloat16
    rows = []
    shapes = [(8192, 2048, 512), (32768, 2048, 512)] if args.quick else \
        [(s, k, w) for s in (8192, 32768, 131072) for (k, w) in ((2048, 512), (1024, 256))]
    if args.prefill:
        shapes = [tuple(int(x) for x in sh.split(",")) for sh in args.prefill.split(";")]
    if args.decode_only:
        shapes = []
    for (S, topk, window) in shapes:
        prefill(sk, S, topk, window, dt, rows, with_peers=not args.no_peers and (S < 131072 or not args.quick))
        torch.cuda.empty_cache()
    kvs = (32768,) if args.quick else (32768, 131072)
    if args.prefill and not args.kv:
        kvs = ()   # --prefill alone: those prefill rows only
    if args.kv:
        kvs = tuple(int(x) for x in args.kv.split(","))
    for KV in kvs:
        decode(sk, KV, dt, rows, args.decode_tiles)
        torch.cuda.empty_cache()
    meta = dict(device=dev.name, sms=dev.multi_processor_count, torch=torch.__version__,
                cudnn=torch.backends.cudnn.version(), date=time.strftime("%Y-%m-%d"), dtype="bf16")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(meta=meta, rows=rows), f, indent=1)
    # The bars, read off this run.
    for r in rows:
        if r["kind"] == "prefill" and r["S"] == 32768:
            print("bar: S=32768 k=%d w=%d selection share %.1f%% (<= 15%%): %s" % (
                r["k"], r["w"], 100 * r["select_share"], "met" if r["select_share"] <= 0.15 else "MISSED"))
        if r["kind"] == "prefill" and "dense_tflops" in r:
            print("bar: S=%d k=%d w=%d effective %.0f TF/s = %.0f%% of our dense %.0f TF/s (>= 60%%): %s" % (
                r["S"], r["k"], r["w"], r["eff_tflops"], 100 * r["sparse_vs_dense_tflops"], r["dense_tflops"],
                "met" if r["sparse_vs_dense_tflops"] >= 0.6 else "MISSED"))
        if r["kind"] == "decode":
            print("bar: decode KV=%d %.1fx the PyTorch gather baseline (>= 10x): %s" % (
                r["KV"], r["speedup_vs_torch"], "met" if r["speedup_vs_torch"] >= 10 else "MISSED"))
            print("bar: decode KV=%d with the decode state %.1fx the PyTorch gather baseline (>= 10x): %s" % (
                r["KV"], r["state_speedup_vs_torch"], "met" if r["state_speedup_vs_torch"] >= 10 else "MISSED"))
    bad = [r for r in rows if r["nan"] or not r["rel_err"] <= 1.5e-2 or
           (r["kind"] == "decode" and (r["state_nan"] or not r["state_rel_err"] <= 1.5e-2 or r["state_sq4_nan"] or
                                       not r["state_sq4_rel_err"] <= 1.5e-2))]
    if bad:
        print("WRONG results in %d rows" % len(bad), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", required=True)
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true", help="skip dense, cuDNN and Flex timings")
    ap.add_argument("--decode-only", action="store_true", help="only the decode rows (e.g. under a profiler)")
    ap.add_argument("--decode-tiles", help="';'-separated tile configs of the decode kernel to sweep, e.g. 'm=16 n=64;m=64 n=32'")
    ap.add_argument("--prefill", help="';'-separated prefill shapes S,k,w to run instead of the issue's grid, and no decode rows unless --kv (e.g. under a profiler)")
    ap.add_argument("--kv", help="comma-separated KV lengths of the decode rows (default 32768,131072)")
    ap.add_argument("--tiles", help="tile keys of the sparse prefill kernel, e.g. 'path=mma' (default: the library's choice)")
    run(ap.parse_args())
