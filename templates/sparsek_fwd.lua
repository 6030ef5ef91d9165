-- templates/sparsek_fwd.lua — SparseK sparse prefill / chunked prefill attention.
--
-- One CTA per (tile of m query rows, query head, batch) walks the tile's gathered key set
-- (written by sparsek_select: the top-k of the tile's first row plus the keys that become
-- candidates within the tile) and then its contiguous window band, with mma.sync tensor-core
-- tiles, masking and weighting each row exactly: path=mma (templates/sparsek_attn_sm80.cut,
-- sm_80+) or path=wgmma (templates/sparsek_attn_sm90.cut, sm_90a, d 64/128; the default there).
-- The selection tile (sparsek_select rows=) must be a multiple of m.

local attn = require("sparsek_attn")
local ptx = require("sparsek.ptx")

local family = {
  family = "sparsek_fwd",
  description = "SparseK sparse prefill: tensor-core tiles over gathered top-k keys + the window band",
  keys = attn.problem_keys(),
}
-- The prefill family has the Hopper path too: its own path key replaces the shared one.
for i, k in ipairs(family.keys) do
  if k.name == "path" then table.remove(family.keys, i) break end
end
for _, k in ipairs({
  { name = "path",   default = "auto", values = { "auto", "mma", "wgmma" },
    doc = "kernel path: mma = mma.sync (sm_80+); wgmma = Hopper warpgroup MMA (sm_90a, d 64/128); auto = wgmma where it applies" },
  { name = "m",      default = "auto", values = { "auto", "64", "128" }, doc = "query rows per CTA (divides the selection tile)" },
  { name = "n",      default = "auto", values = { "auto", "32", "64", "128" }, doc = "keys per pipeline step" },
  { name = "warps",  default = "auto", values = { "auto", "4", "8" }, doc = "warps per CTA (wgmma: m/16)" },
  { name = "stages", default = "auto", values = { "auto", "2", "3", "4", "5" }, doc = "K/V shared-memory pipeline stages (wgmma: >= 3)" },
  { name = "sched",  default = "auto", values = { "auto", "sync", "pingpong" },
    doc = "wgmma schedule: sync = every warpgroup loads, one barrier per key block; pingpong = a producer warpgroup loads, two consumers take turns (auto: pingpong at d=128 with m=128, else sync)" },
  { name = "persist", default = "auto", values = { "auto", "0", "1" },
    doc = "sched=pingpong: 1 = one persistent CTA per SM walks the tiles (a tile's set-up and epilogue overlap other tiles' key blocks), 0 = one CTA per tile (auto: 1 with pingpong)" },
  { name = "group",  default = "1", check = function(v)
      local g = tonumber(v)
      if not g or g ~= math.floor(g) or g < 1 or g > 1024 then return "group must be an integer in 1..1024" end
    end,
    doc = "the problem's query heads per KV head (Hq / Hkv; the runtime passes it): what pack=auto can pack" },
  { name = "pack",   default = "auto", values = { "auto", "1", "2", "4", "8" },
    doc = "sched=pingpong: query heads of one KV group per tile, m/pack positions each, sharing the tile's gathered keys and K/V copies (auto: the largest of 8, 4, 2 that divides group, else 1)" },
  { name = "join",   default = "auto", values = { "auto", "0", "1" },
    doc = "path=wgmma: 1 = the window band continues in the last gathered key block, so a tile walks ceil((gathered + band) / n) blocks; 0 = the band starts a block of its own (auto: 1 on wgmma, 0 on mma)" },
}) do family.keys[#family.keys + 1] = k end

local MMA_SPACE = {
  { name = "m",      values = { "64", "128" } },
  { name = "n",      values = { "32", "64", "128" } },
  { name = "warps",  values = { "4", "8" } },
  { name = "stages", values = { "2", "3" } },
}
local WGMMA_SPACE = {
  { name = "m",      values = { "64", "128" } },
  { name = "n",      values = { "64", "128" } },
  { name = "stages", values = { "3", "4" } },
  { name = "sched",  values = { "sync", "pingpong" } },
}

local path_for = require("sparsek.hopper").path_for

function family.space(cfg, arch)
  return path_for(cfg, arch) == "wgmma" and WGMMA_SPACE or MMA_SPACE
end

-- Defaults. On the wgmma path: two warpgroups, 64-key blocks and 4 stages (what fits 227 KB at
-- d=128); at d=128 with two consumer warpgroups the pingpong schedule (run 87: 10-11% faster
-- than sync on the prefill rows of docs/BENCHMARKS.md; d=64 and m=64 were not timed with it).
-- On the mma path: the dense kernel's H100 winners of session 2 for the same head dim (the
-- dense defaults moved to 4 warps x 32 rows in session 3; the sparse kernel has not been swept
-- with them yet), 3 stages at d=96/128 where 227 KB of shared memory hold them, n=32 on 99 KB
-- parts.
function family.resolve(cfg, arch)
  cfg.path = path_for(cfg, arch)
  local d, smem = tonumber(cfg.d), ptx.SMEM_LIMIT[arch] or 0
  local t
  if cfg.path == "wgmma" then
    t = { m = "128", n = "64", stages = "4" }
    local m = cfg.m ~= "auto" and cfg.m or t.m
    t.warps = tostring(tonumber(m) // 16)
    t.sched = (d == 128 and m == "128") and "pingpong" or "sync"
  elseif d == 64 then t = { m = "128", n = "64", warps = "4", stages = "2" }
  elseif d == 256 then t = { m = "64", n = "32", warps = "4", stages = "2" }
  else t = { m = "128", n = "128", warps = "8", stages = smem >= 232448 and "3" or "2" } end
  if smem <= 101376 and d >= 96 then t.n = "32" end
  t.sched = t.sched or "sync"   -- the mma path has one schedule
  for k, v in pairs(t) do
    if cfg[k] == "auto" then cfg[k] = v end
  end
  if cfg.persist == "auto" then cfg.persist = cfg.sched == "pingpong" and "1" or "0" end
  if cfg.join == "auto" then cfg.join = cfg.path == "wgmma" and "1" or "0" end
  if cfg.pack == "auto" then
    cfg.pack = "1"
    local g = tonumber(cfg.group)
    if cfg.sched == "pingpong" then
      for _, pk in ipairs({ 8, 4, 2 }) do
        if g % pk == 0 and tonumber(cfg.m) // pk >= 16 then cfg.pack = tostring(pk) break end
      end
    end
  end
end

function family.validate(cfg, arch)
  if cfg.persist == "1" and cfg.sched ~= "pingpong" then return "persist=1 needs sched=pingpong" end
  if cfg.pack ~= "1" and cfg.sched ~= "pingpong" then return "pack=" .. cfg.pack .. " needs sched=pingpong" end
  if tonumber(cfg.m) // tonumber(cfg.pack) < 16 then
    return ("pack=%s leaves m=%s fewer than 16 positions per head"):format(cfg.pack, cfg.m)
  end
  if tonumber(cfg.group) % tonumber(cfg.pack) ~= 0 then
    return ("pack=%s needs a group (Hq / Hkv) that it divides, not %s"):format(cfg.pack, cfg.group)
  end
  if cfg.path == "wgmma" then return attn.validate_sm90(cfg, arch) end
  if cfg.join == "1" then return "join=1 needs path=wgmma" end
  if cfg.sched ~= "sync" then return "sched=pingpong needs path=wgmma" end
  if tonumber(cfg.stages) > 3 then return "path=mma takes stages 2 or 3" end
  return attn.validate(cfg, arch)
end

function family.generate(cfg, arch, ctx)
  local persist = cfg.persist == "1"
  local pack, m = tonumber(cfg.pack), tonumber(cfg.m)
  -- The name: the tile keys, then a suffix for each schedule or layout that is not the plain one
  -- (join=0 on wgmma: the band in blocks of its own).
  local name = ("sparsek_fwd_%s_d%s_m%s_n%s_w%s_s%s_%s_%s"):format(cfg.path, cfg.d, cfg.m, cfg.n, cfg.warps,
                                                                  cfg.stages, cfg.weight, cfg.dtype)
  local suffixes = {
    { cfg.sched == "pingpong", "_pp" }, { persist, "_persist" }, { pack > 1, "_pk" .. pack },
    { cfg.path == "wgmma" and cfg.join == "0", "_bandapart" },
  }
  for _, sf in ipairs(suffixes) do
    if sf[1] then name = name .. sf[2] end
  end
  local r = cfg.path == "wgmma" and attn.render_sm90(cfg, arch, name) or attn.render(cfg, arch, false, name)
  -- Tiles: (Hq / pack head groups, query tiles of m / pack positions, B), numbered as the kernel's
  -- Tile does; persist: a CTA per SM at most (sms: the device's).
  local heads = pack > 1 and ("hq/%d"):format(pack) or "hq"
  r.grid = persist and ("min(%s*cdiv(sq,%d)*b,sms) 1 1"):format(heads, m // pack)
           or ("%s cdiv(sq,%d) b"):format(heads, m // pack)
  return r
end

return family
