-- templates/fmha_fwd.lua — the dense attention forward family.
--
-- Problem keys (d, dtype, causal) say what is computed; tile keys (m, n, warps, stages, layout,
-- minblocks) say how, and are what the tuner searches. "auto" tile keys take the heuristic
-- default below. Paths: "mma" is the portable tensor-core kernel (templates/fmha_fwd_sm80.cut,
-- sm_80 .. sm_120); "wgmma" is the Hopper kernel (templates/fmha_fwd_sm90.cut, sm_90a only,
-- d = 64 or 128). Both share the parameter struct (fmha_params.cut), the softmax
-- (fmha_softmax.cut) and the PTX emitters (sparsek/ptx.lua).

local ptx = require("sparsek.ptx")
local hopper = require("sparsek.hopper")
local template = require("sparsek.template")

local family = {
  family = "fmha_fwd",
  description = "dense FlashAttention-style forward attention (online softmax, causal, GQA, LSE)",
  keys = {
    { name = "d",         default = "128",  values = { "64", "96", "128", "256" }, doc = "head dimension" },
    { name = "dtype",     default = "bf16", values = { "fp16", "bf16" }, doc = "element type of Q, K, V, O" },
    { name = "causal",    default = "0",    values = { "0", "1" }, doc = "bottom-right aligned causal mask" },
    { name = "path",      default = "auto", values = { "auto", "mma", "wgmma" },
      doc = "kernel path: mma = mma.sync/ldmatrix/cp.async (sm_80+); wgmma = Hopper warpgroup MMA (sm_90a, d 64/128); auto = wgmma where it applies" },
    { name = "m",         default = "auto", values = { "auto", "32", "64", "128", "192", "256" }, doc = "query rows per CTA" },
    { name = "n",         default = "auto", values = { "auto", "32", "64", "128" }, doc = "keys per pipeline step" },
    { name = "warps",     default = "auto", values = { "auto", "2", "4", "8", "12", "16" }, doc = "warps per CTA" },
    { name = "stages",    default = "auto", values = { "auto", "2", "3", "4" }, doc = "K/V shared-memory pipeline stages" },
    { name = "layout",    default = "auto", values = { "auto", "swizzle", "pad" }, doc = "shared-memory tile layout" },
    { name = "minblocks", default = "auto", values = { "auto", "1", "2" }, doc = "__launch_bounds__ minimum CTAs per SM" },
    { name = "qregs",     default = "auto", values = { "auto", "0", "1" }, doc = "1: Q fragments stay in registers across the key loop" },
    { name = "sunroll",   default = "auto", values = { "auto", "1", "2", "full" }, doc = "unroll of the Q K^T head-dim loop (qregs=0 only)" },
  },
}

-- The tuner's search space per path (tile keys; gen.candidates enumerates it, validate prunes
-- it). Values come from the H100 sweeps (docs/BENCHMARKS.md): every winner seen is inside.
local MMA_SPACE = {
  { name = "m",       values = { "64", "128" } },
  { name = "n",       values = { "32", "64", "128" } },
  { name = "warps",   values = { "4", "8" } },
  { name = "stages",  values = { "2", "3" } },
  { name = "qregs",   values = { "0", "1" } },
  { name = "sunroll", values = { "2", "full" } },
}
-- wgmma: warps follow from m (one warpgroup per 64 rows); the layout is always the 128-byte swizzle.
local WGMMA_SPACE = {
  { name = "m",      values = { "64", "128", "192" } },
  { name = "n",      values = { "64", "128" } },
  { name = "stages", values = { "3", "4" } },
}

local path_for = hopper.path_for

function family.space(cfg, arch)
  return path_for(cfg, arch) == "wgmma" and WGMMA_SPACE or MMA_SPACE
end

local SMEM_LIMIT = ptx.SMEM_LIMIT
-- Accumulator floats per thread we allow before the kernel would spill (of 255 registers).
local MAX_ACC_REGS = 192

-- The heuristic default tile for a problem, from the H100 sweeps (docs/BENCHMARKS.md) over the
-- 16k-token grid, fitted to each arch's shared memory. The tuner replaces it per shape bucket.
--   d=64/96/128: m=128, 4 warps (32 rows per warp: each K/V fragment read from shared memory
--     feeds two MMAs), 2 stages, Q re-read from shared memory, two CTAs per SM; 128-key blocks
--     at d=64, 64-key blocks at d=96/128 (run 14: 1.08-1.16x FlashAttention-2 on every d=128
--     grid row, where 8 warps x 16 rows with 3 stages, one CTA per SM, had been 0.9x; run 16:
--     n=128 at d=64 1.04-1.19x on every d=64 grid row, n=64 there 0.98-1.15x). From sm_100 on
--     (not measured) d=64 takes n=64: ptxas spills about 100 bytes there with n=128.
--   d=256: m=64 n=32, 4 warps, head-dim loop unrolled by 2 (the only one without spills)
--   99 KB arches (sm_86/89/120): n=32 for d >= 96
local function mma_heuristic(cfg, arch)
  local d = tonumber(cfg.d)
  local t = { minblocks = "1", layout = (d % 64 == 0) and "swizzle" or "pad" }
  if d == 256 then
    t.m, t.n, t.warps, t.stages = "64", "32", "4", "2"
  else
    local wide = d == 64 and ptx.arch_number(arch) < 100
    t.m, t.n, t.warps, t.stages = "128", wide and "128" or "64", "4", "2"
  end
  if (SMEM_LIMIT[arch] or 0) <= 101376 and d >= 96 then t.n, t.stages = "32", "2" end
  -- Q in registers costs (m/warps/16) * d/4 registers. The sweeps found it no faster once the
  -- tiles are large, and ptxas spills past about 128 accumulator registers, so take it only
  -- for small per-warp tiles.
  local function pick(k) return tonumber(cfg[k] ~= "auto" and cfg[k] or t[k]) end
  local mi = (pick("m") // pick("warps")) // 16
  local acc = mi * (d // 2 + pick("n") // 2 + d // 4)
  t.qregs = cfg.qregs ~= "auto" and cfg.qregs or ((acc <= 96) and "1" or "0")
  t.sunroll = (t.qregs == "0" and d == 256) and "2" or "full"
  return t
end

-- The wgmma path: two warpgroups (128 rows); 64-key blocks and 4 stages at d=64, 128-key
-- blocks and 3 stages at d=128 (the H100 sweep of 2026-11-23, docs/BENCHMARKS.md run 5: at d=64
-- n=64 beat n=128 by 5-40% on every row; at d=128 the two were within 1-4%, n=128 ahead on the
-- causal rows). Keys the path does not use take fixed values: warps = m/16, the 128-byte
-- swizzle layout, Q read by wgmma from shared memory (qregs=0).
local function wgmma_heuristic(cfg)
  local d64 = cfg.d == "64"
  local t = { m = "128", n = d64 and "64" or "128", stages = d64 and "4" or "3", layout = "swizzle",
              minblocks = "1", qregs = "0", sunroll = "full" }
  local m = tonumber(cfg.m ~= "auto" and cfg.m or t.m)
  t.warps = tostring(m // 16)
  return t
end

-- Replaces "auto" values with the heuristic's choice (called before validate).
function family.resolve(cfg, arch)
  cfg.path = path_for(cfg, arch)
  local h = cfg.path == "wgmma" and wgmma_heuristic(cfg) or mma_heuristic(cfg, arch)
  for k, v in pairs(h) do
    if cfg[k] == "auto" then cfg[k] = v end
  end
end

-- Derived sizes of a resolved config.
local function shape(cfg)
  local s = {
    d = tonumber(cfg.d), m = tonumber(cfg.m), n = tonumber(cfg.n),
    warps = tonumber(cfg.warps), stages = tonumber(cfg.stages),
  }
  s.row_bytes = cfg.layout == "swizzle" and s.d * 2 or (s.d + 8) * 2
  s.smem = (s.m + 2 * s.stages * s.n) * s.row_bytes
  s.warp_rows = s.m // s.warps
  return s
end

-- The wgmma path's limits; nil when the config fits.
-- The wgmma path's limits (sparsek/hopper.lua) plus the keys it fixes; nil when the config fits.
local function validate_wgmma(cfg, arch)
  if cfg.layout ~= "swizzle" then return "path=wgmma reads 128-byte swizzled tiles: layout=swizzle" end
  if cfg.qregs ~= "0" then return "path=wgmma reads Q from shared memory: qregs=0" end
  if cfg.sunroll ~= "full" then return "path=wgmma unrolls the head-dim loop fully: sunroll=full" end
  if cfg.minblocks ~= "1" then return "path=wgmma runs one CTA per SM: minblocks=1" end
  local m, n, stages, d = tonumber(cfg.m), tonumber(cfg.n), tonumber(cfg.stages), tonumber(cfg.d)
  return hopper.validate(cfg, arch, 192, (m + 2 * stages * n) * d * 2 + 1024)
end

function family.validate(cfg, arch)
  if cfg.path == "wgmma" then return validate_wgmma(cfg, arch) end
  if ptx.arch_number(arch) < 80 then return "the mma path needs sm_80 or newer" end
  local s = shape(cfg)
  local rows = ptx.warp_rows_reason(s.m, s.warps)
  if rows then return rows end
  if s.warp_rows > 64 then return ("m/warps=%d rows per warp; at most 64"):format(s.warp_rows) end
  if cfg.qregs == "1" and cfg.sunroll ~= "full" then
    -- the Q fragments are indexed by the loop variable: only a full unroll keeps them in registers
    return "qregs=1 needs sunroll=full"
  end
  if cfg.layout == "swizzle" and s.d % 64 ~= 0 then
    return ("layout=swizzle needs d a multiple of 64 (8 16-byte chunks per row); d=%d: use layout=pad"):format(s.d)
  end
  local acc = (s.warp_rows // 16) * (s.d // 2 + s.n // 2 + (cfg.qregs == "1" and s.d // 4 or 0))
  if acc > MAX_ACC_REGS then
    return ("accumulators need %d registers per thread (m/warps=%d, d=%d, n=%d, qregs=%s); at most %d"):format(
      acc, s.warp_rows, s.d, s.n, cfg.qregs, MAX_ACC_REGS)
  end
  return ptx.smem_reason(s.smem, arch)
end

local function kernel_name(cfg)
  if cfg.path == "wgmma" then
    return ("sparsek_fmha_fwd_wgmma_d%s_m%s_n%s_s%s_%s%s"):format(cfg.d, cfg.m, cfg.n, cfg.stages, cfg.dtype,
                                                               cfg.causal == "1" and "_causal" or "")
  end
  return ("sparsek_fmha_fwd_%s_d%s_m%s_n%s_w%s_s%s_%s_mb%s%s_u%s_%s%s"):format(
    cfg.path, cfg.d, cfg.m, cfg.n, cfg.warps, cfg.stages,
    cfg.layout == "swizzle" and "swz" or "pad", cfg.minblocks, cfg.qregs == "1" and "_qr" or "",
    cfg.sunroll == "full" and "f" or cfg.sunroll, cfg.dtype,
    cfg.causal == "1" and "_causal" or "")
end

-- The Hopper kernel: smem = Q tile + stages x (K + V) tiles + 1024 bytes to align the base.
local function generate_wgmma(cfg, arch)
  local d, m, n, stages = tonumber(cfg.d), tonumber(cfg.m), tonumber(cfg.n), tonumber(cfg.stages)
  local name = kernel_name(cfg)
  local env = {
    ptx = ptx, arch = arch, dtype = cfg.dtype, elem = ptx.dtypes[cfg.dtype].cuda,
    d = d, n = n, wgs = m // 64, stages = stages, causal = cfg.causal, kernel_name = name,
  }
  env.softmax = template.render("templates/fmha_softmax.cut", env)
  local path = "templates/fmha_fwd_sm90.cut"
  return {
    template = path,
    source = template.render(path, env),
    kernel_name = name,
    grid = ("cdiv(sq,%d) hq b"):format(m),
    block = { (m // 64) * 128, 1, 1 },
    cluster = { 1, 1, 1 },
    smem = (m + 2 * stages * n) * d * 2 + 1024,
  }
end

function family.generate(cfg, arch, ctx)
  if cfg.path == "wgmma" then return generate_wgmma(cfg, arch) end
  local s = shape(cfg)
  local name = kernel_name(cfg)
  local env = {
    ptx = ptx, dtype = cfg.dtype, elem = ptx.dtypes[cfg.dtype].cuda,
    d = s.d, m = s.m, n = s.n, warps = s.warps, stages = s.stages, causal = cfg.causal,
    row_bytes = s.row_bytes, layout = cfg.layout, min_blocks = cfg.minblocks,
    layout_doc = cfg.layout == "swizzle" and "16-byte chunks XOR-swizzled by row"
                 or "rows padded by 16 bytes",
    kernel_name = name,
    qregs = cfg.qregs == "1",
    s_unroll = cfg.sunroll == "full" and "" or cfg.sunroll,
    q_a = cfg.qregs == "1" and "q_frag[mi][kk]" or "a[mi]",
  }
  env.softmax = template.render("templates/fmha_softmax.cut", env)
  local path = "templates/fmha_fwd_sm80.cut"
  return {
    template = path,
    source = template.render(path, env),
    kernel_name = name,
    grid = ("cdiv(sq,%d) hq b"):format(s.m),
    block = { s.warps * 32, 1, 1 },
    cluster = { 1, 1, 1 },
    smem = s.smem,
  }
end

return family
