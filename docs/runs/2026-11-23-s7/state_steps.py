#!/usr/bin/env python3
"""state_steps.py — a decode-state generation loop for a profiler: B=8, Hq=32, Hkv=8, D=128, bf16,
k=2048, w=512; per KV length, a rebuild at KV - STEPS then STEPS calls of one key more each."""
import sys
import torch
sys.path.insert(0, "tests/gpu")
from bench_sparsek import SparseK, SparseParams

sk = SparseK(sys.argv[1])
STEPS = 6
for KV in [int(x) for x in sys.argv[2].split(",")]:
    torch.manual_seed(0)
    K = torch.randn(8, KV, 8, 128, device="cuda", dtype=torch.bfloat16)
    V = torch.randn_like(K)
    u = torch.randn(8, 8, KV, device="cuda")
    q = torch.randn(8, 1, 32, 128, device="cuda", dtype=torch.bfloat16)
    o = torch.empty_like(q)
    sp, scratch = sk.sparse_params(q, K, V, o, u, 2048, 512)
    st = sk.decode_state(sp, KV)
    sk.state_reset(st)
    for n in range(KV - STEPS, KV + 1):
        spn = SparseParams.from_buffer_copy(sp)
        spn.base.seqlen_k = n
        sk.decode_step(spn, st, scratch)
    torch.cuda.synchronize()
    print("KV", KV, "done", flush=True)
