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

-- Shared memory a CTA may opt into, per arch (bytes).
ptx.SMEM_LIMIT = {
  sm_80 = 166912, sm_86 = 101376, sm_87 = 166912, sm_89 = 101376,
  sm_90 = 232448, sm_90a = 232448, sm_100a = 232448, sm_120 = 101376,
}

-- The reason a CTA needing `bytes` of shared memory cannot run on `arch`, or nil (an arch the
-- table lacks is not checked).
function ptx.smem_reason(bytes, arch)
  local limit = ptx.SMEM_LIMIT[arch]
  if limit and bytes > limit then
    return ("needs %d bytes of shared memory; %s allows %d"):format(bytes, arch, limit)
  end
  return nil
end

-- The reason m query rows cannot be split over `warps` warps of 16-row MMA tiles, or nil.
function ptx.warp_rows_reason(m, warps)
  if m % (16 * warps) ~= 0 then
    return ("m=%d is not a multiple of 16*warps=%d (each warp owns 16-row MMA tiles)"):format(m, 16 * warps)
  end
  return nil
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

-- ---- Hopper (sm_90a): wgmma, TMA, mbarrier, setmaxnreg ---------------------------------------
-- Emitted helpers only; the sm90 attention path that uses them is the next step. Each checks
-- its shape and arch at generation time, so a bad combination fails in Lua with a reason
-- instead of reaching NVRTC (which crashes on some malformed wgmma operands).

-- wgmma and setmaxnreg exist only on sm_90a (Blackwell's sm_100a has tcgen05 instead).
function ptx.require_sm90a(arch)
  if arch ~= "sm_90a" then
    error("ptx: wgmma / setmaxnreg need sm_90a, not " .. tostring(arch), 2)
  end
end

-- The 64-bit shared-memory matrix descriptor of wgmma: start address, leading- and
-- stride-dimension byte offsets (all >> 4, 14 bits each) and the swizzle mode in bits 62-63
-- (0: none, 1: 128-byte, 2: 64-byte, 3: 32-byte).
function ptx.smem_desc()
  return [[
// wgmma shared-memory matrix descriptor (PTX ISA "Matrix Descriptor Format").
__device__ __forceinline__ unsigned long long smem_desc(uint32_t addr, uint32_t lead_bytes,
                                                      uint32_t stride_bytes, uint32_t swizzle_mode) {
    return (unsigned long long)((addr & 0x3FFFF) >> 4) |
           ((unsigned long long)((lead_bytes & 0x3FFFF) >> 4) << 16) |
           ((unsigned long long)((stride_bytes & 0x3FFFF) >> 4) << 32) |
           ((unsigned long long)(swizzle_mode & 3) << 62);
}
]]
end

-- fence / commit / wait around asynchronous wgmma.
function ptx.wgmma_sync()
  return [[
// Orders register accesses before wgmma reads them.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
// Waits until at most N committed wgmma groups are pending.
template <int N>
__device__ __forceinline__ void wgmma_wait() { asm volatile("wgmma.wait_group.sync.aligned %0;\n" :: "n"(N) : "memory"); }
]]
end

local function wgmma_check(n, dtype, arch)
  ptx.require_sm90a(arch)
  dtype_info(dtype)
  n = math.tointeger(n)
  if not n or n < 8 or n > 256 or n % 8 ~= 0 then
    error("ptx: wgmma m64nNk16 needs N a multiple of 8 in [8, 256], got " .. tostring(n), 4)
  end
  return n
end

-- The operand list "{%0, %1, ...}" of n/2 f32 accumulators, and their constraints. The
-- accumulators are passed as d[n/8][4]: block j holds columns 8j..8j+7 in the per-warp layout
-- of an m16n8 C fragment (rows g, g+8; columns 2t, 2t+1), which is the layout the softmax reads.
local function acc_operands(count)
  local regs, cons = {}, {}
  for i = 0, count - 1 do
    regs[#regs + 1] = "%" .. i
    cons[#cons + 1] = ('"+f"(d[%d][%d])'):format(i // 4, i % 4)
  end
  return "{" .. table.concat(regs, ", ") .. "}", table.concat(cons, ", ")
end

-- One wgmma helper: `a_form` is "ss" (A in shared memory through a descriptor) or "rs" (A in
-- four 32-bit registers per thread, the m16n8k16 A layout per warp). Operand numbering: the
-- n/2 accumulators first, then A, the B descriptor and scale_d.
local function wgmma(n, dtype, arch, trans_b, a_form)
  n = wgmma_check(n, dtype, arch)
  local t = trans_b and 1 or 0
  local count = n // 2
  local ops, cons = acc_operands(count)
  local ty = ptx.dtypes[dtype].ptx
  local a_param, a_ops, a_cons, imm, nexta
  if a_form == "ss" then
    a_param, a_ops, a_cons, nexta = "unsigned long long desc_a", ("%%%d"):format(count), '"l"(desc_a)', count + 1
    imm = ("1, 1, 0, %d"):format(t)    -- scale-a, scale-b, trans-a, trans-b
  else
    a_param = "const uint32_t (&a)[4]"
    a_ops = ("{%%%d, %%%d, %%%d, %%%d}"):format(count, count + 1, count + 2, count + 3)
    a_cons, nexta = '"r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3])', count + 4
    imm = ("1, 1, %d"):format(t)       -- scale-a, scale-b, trans-b (no trans-a from registers)
  end
  local name = ("wgmma_m64n%dk16_%s_%s_tb%d"):format(n, a_form, dtype, t)
  return ([[
// wgmma m64n%dk16, A from %s, B from shared memory (descriptor), %s in, f32 accumulate.
// scale_d = 0 overwrites d, 1 accumulates into it.
__device__ __forceinline__ void %s(float (&d)[%d][4], %s,
                                                unsigned long long desc_b, int scale_d) {
    asm volatile(
        "{\n.reg .pred p;\nsetp.ne.b32 p, %%%d, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n%dk16.f32.%s.%s %s, %s, %%%d, p, %s;\n}\n"
        : %s
        : %s, "l"(desc_b), "r"(scale_d));
}
]]):format(n, a_form == "ss" and "shared memory (descriptor)" or "registers", dtype, name, count // 4, a_param,
           nexta + 1, n, ty, ty, ops, a_ops, nexta, imm, cons, a_cons)
end

-- D[64 x N] (+)= A[64 x 16] * B[16 x N], A and B in shared memory through descriptors, issued
-- by one warpgroup; each thread holds N/2 f32 accumulators. B is K x N column-major (K-major)
-- by default: for S = Q K^T that is K stored [key][d], trans_b = 0. trans_b = 1 reads B stored
-- N-major ([k][n] row-major): V stored [key][d] for O += P V.
function ptx.wgmma_ss(n, dtype, arch, trans_b) return wgmma(n, dtype, arch, trans_b, "ss") end

-- As wgmma_ss with A from registers, as the P operand of O += P V.
function ptx.wgmma_rs(n, dtype, arch, trans_b) return wgmma(n, dtype, arch, trans_b, "rs") end

-- mbarrier in shared memory: init, arrive (with an expected transaction byte count for TMA, or
-- when this thread's cp.async copies land), and a parity wait that spins on try_wait.
function ptx.mbarrier()
  return [[
__device__ __forceinline__ void mbarrier_init(uint32_t bar, uint32_t count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" :: "r"(bar), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" :: "r"(bar), "r"(bytes) : "memory");
}
__device__ __forceinline__ void mbarrier_arrive(uint32_t bar) {
    asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" :: "r"(bar) : "memory");
}
// One arrival on bar once every cp.async this thread has issued so far has landed (the thread
// goes on at once); .noinc: the arrival counts against the barrier's initial count.
__device__ __forceinline__ void cp_async_mbarrier_arrive(uint32_t bar) {
    asm volatile("cp.async.mbarrier.arrive.noinc.shared::cta.b64 [%0];\n" :: "r"(bar) : "memory");
}
// Blocks until the phase with the given parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint32_t bar, uint32_t parity) {
    asm volatile(
        "{\n.reg .pred done;\n"
        "wait_%=:\n"
        "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
        "@!done bra wait_%=;\n}\n" :: "r"(bar), "r"(parity) : "memory");
}
]]
end

-- Named barriers (bar.sync / bar.arrive on ids 1-15 with a thread count, a multiple of 32):
-- warpgroups that take turns sync on their own id and arrive on the other's.
function ptx.named_barrier()
  return [[
// Waits at barrier `id` until `count` threads (these included) have arrived or synced there.
__device__ __forceinline__ void named_barrier_sync(int id, int count) {
    asm volatile("bar.sync %0, %1;\n" :: "r"(id), "r"(count) : "memory");
}
// Counts these threads in at barrier `id` without waiting.
__device__ __forceinline__ void named_barrier_arrive(int id, int count) {
    asm volatile("bar.arrive %0, %1;\n" :: "r"(id), "r"(count) : "memory");
}
]]
end

-- TMA: a 2-D tile global -> shared through a tensor map (passed to the kernel as a
-- __grid_constant__ parameter), completing on an mbarrier.
function ptx.tma_load_2d()
  return [[
// One 2-D box at (x, y) of the tensor map into shared memory at dst; the bytes land on bar.
__device__ __forceinline__ void tma_load_2d(uint32_t dst, const void *tensor_map, int x, int y, uint32_t bar) {
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n"
        :: "r"(dst), "l"(tensor_map), "r"(x), "r"(y), "r"(bar) : "memory");
}
]]
end

-- Generic-proxy shared-memory writes (st.shared, cp.async) become visible to the async proxy
-- (wgmma operands, TMA stores): each writing thread fences before the barrier that publishes.
function ptx.fence_proxy_async()
  return [[
__device__ __forceinline__ void fence_proxy_async() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
]]
end

-- setmaxnreg: a warpgroup gives registers back (dec) or takes more (inc). The count must be a
-- multiple of 8 in [24, 256]; the kernel needs __launch_bounds__(threads, 1) for it to apply.
function ptx.setmaxnreg(op, count, arch)
  ptx.require_sm90a(arch)
  if op ~= "inc" and op ~= "dec" then error("ptx: setmaxnreg op must be inc or dec", 2) end
  count = math.tointeger(count)
  if not count or count < 24 or count > 256 or count % 8 ~= 0 then
    error("ptx: setmaxnreg needs a multiple of 8 in [24, 256], got " .. tostring(count), 2)
  end
  return ('asm volatile("setmaxnreg.%s.sync.aligned.u32 %d;\\n" ::: "memory");'):format(op, count)
end

return ptx
