"""sk_params.py - the ctypes mirror of sparsek_attention_params (runtime/sparsek.h), shared by
the benchmark scripts of this folder."""
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
