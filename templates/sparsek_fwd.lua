-- templates/sparsek_fwd.lua — SparseK sparse prefill / chunked prefill attention.
--
-- One CTA per (tile of m query rows, query head, batch) walks the tile's gathered key set
-- (written by sparsek_select: the top-k of the tile's first row plus the keys that become
-- candidates within the tile) and then its contiguous window band, with mma.sync tensor-core
-- tiles, masking and weighting each row exactly (templates/sparsek_attn_sm80.cut). The
-- selection tile (sparsek_select rows=) must be a multiple of m.

local attn = require("sparsek_attn")

local family = {
  family = "sparsek_fwd",
  description = "SparseK sparse prefill: tensor-core tiles over gathered top-k keys + the window band",
  keys = attn.problem_keys(),
}
for _, k in ipairs({
  { name = "m",      default = "auto", values = { "auto", "64", "128" }, doc = "query rows per CTA (divides the selection tile)" },
  { name = "n",      default = "auto", values = { "auto", "32", "64", "128" }, doc = "keys per pipeline step" },
  { name = "warps",  default = "auto", values = { "auto", "4", "8" }, doc = "warps per CTA" },
  { name = "stages", default = "auto", values = { "auto", "2", "3" }, doc = "K/V shared-memory pipeline stages" },
}) do family.keys[#family.keys + 1] = k end

family.space = {
  { name = "m",      values = { "64", "128" } },
  { name = "n",      values = { "32", "64", "128" } },
  { name = "warps",  values = { "4", "8" } },
  { name = "stages", values = { "2", "3" } },
}

-- Defaults: the dense kernel's H100 winners (templates/fmha_fwd.lua) for the same head dim,
-- 3 stages at d=96/128 where 227 KB of shared memory hold them.
local BIG_SMEM = { sm_90 = true, sm_90a = true, sm_100a = true }
function family.resolve(cfg, arch)
  local d = tonumber(cfg.d)
  local t
  if d == 64 then t = { m = "128", n = "64", warps = "4", stages = "2" }
  elseif d == 256 then t = { m = "64", n = "32", warps = "4", stages = "2" }
  else t = { m = "128", n = "128", warps = "8", stages = BIG_SMEM[arch] and "3" or "2" } end
  if (arch == "sm_86" or arch == "sm_89" or arch == "sm_120") and d >= 96 then t.n = "32" end
  for k, v in pairs(t) do
    if cfg[k] == "auto" then cfg[k] = v end
  end
end

family.validate = attn.validate

function family.generate(cfg, arch, ctx)
  local name = ("sparsek_fwd_d%s_m%s_n%s_w%s_s%s_%s_%s"):format(cfg.d, cfg.m, cfg.n, cfg.warps, cfg.stages,
                                                               cfg.weight, cfg.dtype)
  local r = attn.render(cfg, arch, false, name)
  r.grid = ("hq cdiv(sq,%s) b"):format(cfg.m)
  return r
end

return family
