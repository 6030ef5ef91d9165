"""sk_params.py - the ctypes mirror of sparsek_attention_params (runtime/sparsek.h) and its
filling from PyTorch tensors, shared by the benchmark scripts of this folder."""
import ctypes


class Params(ctypes.Structure):
    # Mirrors sparsek_attention_params in runtime/sparsek.h.
    _fields_ = [
        ("q", ctypes.c_void_p), ("k", ctypes.c_void_p), ("v", ctypes.c_void_p),
        ("o", ctypes.c_void_p), ("lse", ctypes.c_void_p),
        ("dtype", ctypes.c_int),
        ("batch", ctypes.c_int), ("seqlen_q", ctypes.c_int), ("seqlen_k", ctypes.c_int),
        ("heads_q", ctypes.c_int), ("heads_kv", ctypes.c_int), ("head_dim", ctypes.c_int),
        ("q_stride", ctypes.c_int64 * 3), ("k_stride", ctypes.c_int64 * 3),
        ("v_stride", ctypes.c_int64 * 3), ("o_stride", ctypes.c_int64 * 3),
        ("scale", ctypes.c_float), ("causal", ctypes.c_int),
    ]


def params_from(q, k, v, o, lse=None, causal=False):
    """Params for [B, S, H, D] tensors q, k, v, o (any strides with D contiguous), optional float
    LSE [B, Hq, Sq]; bf16 when q is bfloat16, else fp16; the default softmax scale."""
    p = Params()
    p.q, p.k, p.v, p.o = q.data_ptr(), k.data_ptr(), v.data_ptr(), o.data_ptr()
    p.lse = lse.data_ptr() if lse is not None else None
    p.dtype = 1 if str(q.dtype) == "torch.bfloat16" else 0
    p.batch, p.seqlen_q, p.heads_q, p.head_dim = q.shape
    p.seqlen_k, p.heads_kv = k.shape[1], k.shape[2]
    for name, t in (("q_stride", q), ("k_stride", k), ("v_stride", v), ("o_stride", o)):
        getattr(p, name)[:] = [t.stride(0), t.stride(1), t.stride(2)]
    p.scale = 0.0
    p.causal = int(causal)
    return p
