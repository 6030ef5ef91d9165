-- templates/sparsek_decode.lua — SparseK decode (Sq 1..16 against a long KV cache).
--
-- phase=attend: the MMA rows are the (position, query head) pairs of one KV-head group (G heads
-- x Sq positions share the group's selection), m of them per CTA; the tile's key blocks
-- (gathered top-k, then the window band) are split across `nsplit` CTAs, each writing a
-- normalised partial output and its LSE. phase=combine merges the partials by LSE.

local attn = require("sparsek_attn")

local family = {
  family = "sparsek_decode",
  description = "SparseK decode: split-KV over the gathered keys + window, GQA group as the MMA rows, LSE combine",
  keys = attn.problem_keys(),
}
for _, k in ipairs({
  { name = "phase",  default = "attend", values = { "attend", "combine" }, doc = "attend: split partials; combine: merge them by LSE" },
  { name = "m",      default = "16", values = { "16", "32", "64" }, doc = "(position, head) rows per CTA" },
  { name = "n",      default = "auto", values = { "auto", "32", "64", "128" }, doc = "keys per pipeline step" },
  { name = "stages", default = "2", values = { "2", "3", "4" }, doc = "K/V shared-memory pipeline stages" },
}) do family.keys[#family.keys + 1] = k end

function family.resolve(cfg, arch)
  if cfg.n == "auto" then cfg.n = tonumber(cfg.d) >= 256 and "32" or "64" end
end

function family.validate(cfg, arch)
  cfg.warps = tostring(tonumber(cfg.m) // 16)
  local reason = attn.validate(cfg, arch)
  cfg.warps = nil
  return reason
end

function family.generate(cfg, arch, ctx)
  if cfg.phase == "combine" then
    return attn.render_combine(cfg, ("sparsek_decode_combine_d%s_%s"):format(cfg.d, cfg.dtype))
  end
  cfg.warps = tostring(tonumber(cfg.m) // 16)
  local name = ("sparsek_decode_d%s_m%s_n%s_s%s_%s_%s"):format(cfg.d, cfg.m, cfg.n, cfg.stages, cfg.weight, cfg.dtype)
  local r = attn.render(cfg, arch, true, name)
  r.grid = "nsplit hkv*rt b"
  return r
end

return family
