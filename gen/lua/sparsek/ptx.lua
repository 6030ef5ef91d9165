-- sparsek/ptx.lua — one emitter per PTX instruction shape.
--
-- Each function returns the CUDA text of a small __device__ __forceinline__ helper that wraps
-- exactly one instruction shape in inline PTX, after checking that the shape, dtype and arch
-- fit together. Templates call these, so a kernel's PTX lives in one place and a Hopper path
-- (wgmma, TMA, mbarrier) adds its emitters here beside the portable ones.

local ptx = {}

-- The element types the tensor-core emitters accept, with their PTX and CUDA names.
ptx.dtypes = {
  fp16 = { ptx = "f16",  cuda = "__half",        pair = "__half2",        header = "cuda_fp16.h" },
  bf16 = { ptx = "bf16", cuda = "__nv_bfloat16", pair = "__nv_bfloat162", header = "cuda_bf16.h" },
}

local function dtype_info(dtype)
  local d = ptx.dtypes[dtype]
  if not d then error("ptx: unsupported dtype '" .. tostring(dtype) .. "'", 3) end
  return d
end

-- "sm_90a" -> 90; "sm_100a" -> 100
function ptx.arch_number(arch)
  local n = tonumber(string.match(arch or "", "^sm_(%d+)a?$"))
  if not n then error("ptx: bad arch '" .. tostring(arch) .. "'", 2) end
  return n
end

-- The portable tensor-core path (mma.sync, ldmatrix, cp.async) needs sm_80 or newer.
function ptx.require_sm80(arch)
  if ptx.arch_number(arch) < 80 then
    error("ptx: mma.sync m16n8k16 / cp.async need sm_80 or newer, not " .. arch, 2)
  end
end

-- mma.sync m16n8k16, row.col, fp32 accumulate, A and B in `dtype`.
-- d[4] += a[4] * b[2]  (registers hold two 16-bit elements each)
function ptx.mma_m16n8k16(dtype)
  local d = dtype_info(dtype)
  return ([[
// D += A * B on one m16n8k16 tile: A 16x16 (row), B 16x8 (col), %s in, f32 accumulate.
__device__ __forceinline__ void mma_m16n8k16_%s(float (&d)[4], const uint32_t (&a)[4],
                                               uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.%s.%s.f32 "
        "{%%0, %%1, %%2, %%3}, {%%4, %%5, %%6, %%7}, {%%8, %%9}, {%%0, %%1, %%2, %%3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
]]):format(dtype, dtype, d.ptx, d.ptx)
end

-- ldmatrix .x4 (four 8x8 b16 matrices), optionally transposed. Each lane passes the shared
-- address of one matrix row (lanes 8i..8i+7 address matrix i).
function ptx.ldmatrix_x4(trans)
  local name = trans and "ldmatrix_x4_trans" or "ldmatrix_x4"
  local q = trans and ".trans" or ""
  return ([[
// Four 8x8 16-bit matrices from shared memory%s.
__device__ __forceinline__ void %s(uint32_t (&r)[4], uint32_t smem_addr) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4%s.shared.b16 {%%0, %%1, %%2, %%3}, [%%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(smem_addr));
}
]]):format(trans and ", transposed" or "", name, q)
end

-- cp.async of 16 bytes, global -> shared, bypassing L1 (.cg). src_bytes = 0 writes zeros
-- (rows past the end of a sequence are zero-filled instead of branched around).
function ptx.cp_async_16()
  return [[
// 16-byte asynchronous copy global -> shared; copies src_bytes (0 or 16) and zero-fills the rest.
__device__ __forceinline__ void cp_async_16(uint32_t smem_addr, const void *gmem, int src_bytes) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n"
                 :: "r"(smem_addr), "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" :: "n"(N)); }
]]
end

-- Conversions used by every attention path: two floats -> one register of two 16-bit values.
function ptx.pack2(dtype)
  local d = dtype_info(dtype)
  local conv = dtype == "fp16" and "__floats2half2_rn" or "__floats2bfloat162_rn"
  return ([[
// Two floats -> two %s in one 32-bit register (round to nearest even); lo is the lower column.
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
    %s v = %s(lo, hi);
    return *reinterpret_cast<uint32_t *>(&v);
}
]]):format(d.cuda, d.pair, conv)
end

-- exp2 on the special-function unit (ex2.approx.ftz.f32); the softmax folds scale*log2(e) in.
function ptx.exp2()
  return [[
__device__ __forceinline__ float fast_exp2(float x) {
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
    return y;
}
]]
end

return ptx
