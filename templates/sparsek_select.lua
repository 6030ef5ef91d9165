-- templates/sparsek_select.lua — SparseK selection: per query row theta_i (the k-th largest
-- candidate score, with the index that breaks ties) and tau_i (the SparseK threshold), and per
-- tile of query rows the gathered key set (../shared/design/SPARSEK.md, "structural fact").
--
-- One CTA per (tile of `rows` query rows, KV head, batch). The tile's first row has the
-- candidate prefix [0, n0); later rows add the contiguous keys [n0, n_last). The CTA
--   1. radix-selects (11-bit digits of the composite key score|index) the k-th largest key of
--      the prefix (theta0); on long prefixes a strided sample's lower bound first cuts the keys
--      the radix select sees to about k (exact: the plain path runs when the bound fails),
--   2. writes the gathered set G = top-k of the prefix + [n0, n_last) in ascending index order,
--      and radix-selects among those k keys the a0-th (the pivot above which every row selects),
--   3. sorts the few keys between the pivot and theta0 plus the new keys (fewer than 2*rows) and
--      reads each row's theta off that sorted list,
--   4. buckets the prefix scores that can be partial for some row's tau (in (theta_min - 1,
--      theta_max + 1)) by value, and solves each row's tau on the exact piecewise-linear sum of
--      clamps (bucket suffix sums + the two partial buckets + the row's new keys) by
--      safeguarded Newton (a few evaluations), bisection as the fallback.
-- CUDA cores only (no tensor cores): the same text serves every arch from sm_80.

local ptx = require("sparsek.ptx")
local template = require("sparsek.template")

local family = {
  family = "sparsek_select",
  description = "SparseK selection: per-row theta/tau and per-tile gathered keys (radix select, bucketed tau)",
  keys = {
    { name = "rows",    default = "128",   values = { "16", "32", "64", "128", "256" }, doc = "query rows per tile (the gathered set is shared by them)" },
    { name = "threads", default = "256",   values = { "128", "256", "512" }, doc = "threads per CTA" },
    { name = "hcap",    default = "16384", values = { "4096", "8192", "16384", "24576", "32768", "40960" },
      doc = "scores kept in shared memory for tau (more: a slower exact path re-reads global memory)" },
  },
}

local BINS = 2048       -- radix digit bins and tau buckets
local SEL_CAP = 2048    -- radix candidates compacted into shared memory once this few remain

function family.validate(cfg, arch)
  if ptx.arch_number(arch) < 80 then return "sparsek_select needs sm_80 or newer" end
  local rows, threads = tonumber(cfg.rows), tonumber(cfg.threads)
  if threads < 2 * rows then
    return ("threads=%d must be at least 2*rows=%d (one thread per sorted slot)"):format(threads, 2 * rows)
  end
  return nil
end

local function shape(cfg)
  local hcap = tonumber(cfg.hcap)
  local dyn = math.max(hcap * 4, SEL_CAP * 8)
  return { rows = tonumber(cfg.rows), threads = tonumber(cfg.threads), hcap = hcap, smem = dyn }
end

function family.generate(cfg, arch, ctx)
  local s = shape(cfg)
  local name = ("sparsek_select_r%d_t%d_h%d"):format(s.rows, s.threads, s.hcap)
  local env = {
    rows = s.rows, threads = s.threads, hcap = s.hcap, bins = BINS, sel_cap = SEL_CAP,
    kernel_name = name,
  }
  env.common = template.render("templates/sparsek_common.cut", env)
  local path = "templates/sparsek_select.cut"
  return {
    template = path,
    source = template.render(path, env),
    kernel_name = name,
    grid = ("cdiv(sq,%d) hkv b"):format(s.rows),
    block = { s.threads, 1, 1 },
    cluster = { 1, 1, 1 },
    smem = s.smem,
  }
end

return family
