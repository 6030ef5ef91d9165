-- templates/sparsek_attn.lua — shared by the SparseK attention families (sparsek_fwd,
-- sparsek_decode): problem keys, tile validation and rendering of templates/sparsek_attn_sm80.cut.
-- Not a family itself (no generate).

local ptx = require("sparsek.ptx")
local hopper = require("sparsek.hopper")
local template = require("sparsek.template")

local attn = {}

-- Problem keys common to both families.
function attn.problem_keys()
  return {
    { name = "d",      default = "128",  values = { "64", "96", "128", "256" }, doc = "head dimension" },
    { name = "dtype",  default = "bf16", values = { "fp16", "bf16" }, doc = "element type of Q, K, V, O" },
    { name = "weight", default = "gate", values = { "gate", "hard", "kv" },
      doc = "where the SparseK weight m goes: gate (log m on the logit), hard (ignored), kv (key and value scaled by m)" },
    { name = "path",   default = "mma",  values = { "mma" },
      doc = "kernel path: mma = mma.sync/ldmatrix/cp.async (sm_80+); a Hopper wgmma/TMA path will sit beside it" },
  }
end

local MAX_ACC_REGS = 192

function attn.shape(cfg)
  local s = {
    d = tonumber(cfg.d), m = tonumber(cfg.m), n = tonumber(cfg.n),
    warps = tonumber(cfg.warps), stages = tonumber(cfg.stages),
  }
  s.layout = (s.d % 64 == 0) and "swizzle" or "pad"
  s.row_bytes = s.layout == "swizzle" and s.d * 2 or (s.d + 8) * 2
  s.smem = (s.m + 2 * s.stages * s.n) * s.row_bytes + s.stages * s.n * 8
  s.warp_rows = s.m // s.warps
  return s
end

function attn.validate(cfg, arch)
  if ptx.arch_number(arch) < 80 then return "the mma path needs sm_80 or newer" end
  local s = attn.shape(cfg)
  local rows = ptx.warp_rows_reason(s.m, s.warps)
  if rows then return rows end
  local acc = (s.warp_rows // 16) * (s.d // 2 + s.n // 2)
  if acc > MAX_ACC_REGS then
    return ("accumulators need %d registers per thread (m/warps=%d, d=%d, n=%d); at most %d"):format(
      acc, s.warp_rows, s.d, s.n, MAX_ACC_REGS)
  end
  return ptx.smem_reason(s.smem, arch)
end

local function env_common(cfg)
  local d = ptx.dtypes[cfg.dtype]
  return {
    ptx = ptx, dtype = cfg.dtype, elem = d.cuda,
    from_float = cfg.dtype == "fp16" and "__float2half_rn" or "__float2bfloat16_rn",
  }
end

local function params(env)
  env.common = template.render("templates/sparsek_common.cut", env)
  env.params = template.render("templates/sparsek_params.cut", env)
end

-- The attention kernel (split = decode) for a resolved config.
function attn.render(cfg, arch, split, name)
  local s = attn.shape(cfg)
  local env = env_common(cfg)
  env.d, env.m, env.n, env.warps, env.stages = s.d, s.m, s.n, s.warps, s.stages
  env.layout, env.row_bytes = s.layout, s.row_bytes
  env.layout_doc = s.layout == "swizzle" and "16-byte chunks XOR-swizzled by row" or "rows padded by 16 bytes"
  env.split, env.weight = split, cfg.weight
  env.min_blocks = cfg.minblocks or "1"
  env.s_unroll = s.d == 256 and "2" or ""
  env.kernel_name = name
  params(env)
  env.softmax = template.render("templates/fmha_softmax.cut", env)
  local path = "templates/sparsek_attn_sm80.cut"
  return { template = path, source = template.render(path, env), kernel_name = name,
           block = { s.warps * 32, 1, 1 }, cluster = { 1, 1, 1 }, smem = s.smem }
end

-- The Hopper prefill kernel (templates/sparsek_attn_sm90.cut, sm_90a, d = 64 or 128): wgmma
-- over the gathered keys and the band, two warpgroups of 64 rows (m = 128) or one (m = 64);
-- per stage 16 bytes of KeyRows a key, the tile's row keys and row thresholds (8 + 8 bytes a
-- row); sched=pingpong adds a producer warpgroup, a TileInfo (48 bytes) and the pipeline's
-- mbarriers (8 bytes each); persist=1 two of the Q tile and what goes with it.
function attn.sm90_smem(cfg)
  local d, m, n, stages = tonumber(cfg.d), tonumber(cfg.m), tonumber(cfg.n), tonumber(cfg.stages)
  local qbufs = cfg.persist == "1" and 2 or 1
  local pp = cfg.sched == "pingpong" and qbufs * 48 + 8 * (2 * stages + 2 * qbufs) or 0
  return (qbufs * m + 2 * stages * n) * d * 2 + stages * n * 16 + qbufs * m * 16 + pp + 1024
end

function attn.validate_sm90(cfg, arch)
  return hopper.validate(cfg, arch, 128, attn.sm90_smem(cfg))
end

function attn.render_sm90(cfg, arch, name)
  local env = env_common(cfg)
  local m = tonumber(cfg.m)
  env.arch, env.d, env.n, env.wgs, env.stages = arch, tonumber(cfg.d), tonumber(cfg.n), m // 64, tonumber(cfg.stages)
  env.weight, env.pingpong, env.persist = cfg.weight, cfg.sched == "pingpong", cfg.persist == "1"
  env.pack = tonumber(cfg.pack or "1")
  env.join = cfg.join == "1"
  -- setmaxnreg of the pingpong producer and its two consumers: multiples of 8, at most the
  -- 3 x 168 per thread a 384-thread CTA is launched with (else a consumer's inc waits for ever)
  env.prod_regs = 88
  env.cons_regs = (3 * 168 - env.prod_regs) // 2 // 8 * 8
  env.kernel_name = name
  params(env)
  env.softmax = template.render("templates/fmha_softmax.cut", env)
  local path = "templates/sparsek_attn_sm90.cut"
  local warpgroups = m // 64 + (env.pingpong and 1 or 0)
  return { template = path, source = template.render(path, env), kernel_name = name,
           block = { warpgroups * 128, 1, 1 }, cluster = { 1, 1, 1 }, smem = attn.sm90_smem(cfg) }
end

-- The LSE combine kernel of the decode family.
function attn.render_combine(cfg, name)
  local env = env_common(cfg)
  env.d, env.threads, env.kernel_name = tonumber(cfg.d), 128, name
  params(env)
  local path = "templates/sparsek_combine.cut"
  return { template = path, source = template.render(path, env), kernel_name = name,
           grid = "sq hq b", block = { 128, 1, 1 }, cluster = { 1, 1, 1 }, smem = 0 }
end

return attn
