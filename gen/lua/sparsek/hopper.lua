-- sparsek/hopper.lua — what the Hopper (sm_90a) wgmma paths of the attention families share:
-- which path a config runs on, and the limits every wgmma attention kernel has (one warpgroup
-- per 64 query rows; K and V in a >= 3-slot cp.async ring; S, O and the packed P in registers).

local ptx = require("sparsek.ptx")

local hopper = {}

-- The path a config runs on `arch`: wgmma on sm_90a for the head dims it covers (64, 128),
-- the portable mma path elsewhere; an explicit path= stays.
function hopper.path_for(cfg, arch)
  if cfg.path ~= "auto" then return cfg.path end
  if arch == "sm_90a" and (cfg.d == "64" or cfg.d == "128") then return "wgmma" end
  return "mma"
end

-- Accumulator registers per thread a kernel of `wgs` warpgroups may use (255 at most per
-- thread; 3 warpgroups leave 170).
local MAX_REGS = { [1] = 224, [2] = 224, [3] = 160 }

-- The reason a resolved wgmma config cannot run, or nil. `max_m`: the largest m the family's
-- template takes; `smem`: the bytes the config needs.
function hopper.validate(cfg, arch, max_m, smem)
  if arch ~= "sm_90a" then return ("path=wgmma needs sm_90a (wgmma exists only there), not %s"):format(arch) end
  local d, m, n, stages = tonumber(cfg.d), tonumber(cfg.m), tonumber(cfg.n), tonumber(cfg.stages)
  if d ~= 64 and d ~= 128 then return ("path=wgmma covers d=64 and d=128, not d=%d: use path=mma"):format(d) end
  if m % 64 ~= 0 or m > max_m then
    return ("path=wgmma needs m a multiple of 64 up to %d (64 rows per warpgroup), not %d"):format(max_m, m)
  end
  if n % 16 ~= 0 or n > 256 then return ("path=wgmma needs n a multiple of 16 up to 256, not %d"):format(n) end
  if tonumber(cfg.warps) ~= m // 16 then
    return ("path=wgmma runs one warpgroup per 64 rows: m=%d needs warps=%d, not %s"):format(m, m // 16, cfg.warps)
  end
  if stages < 3 then return "path=wgmma needs stages >= 3 (blocks j-1 and j are in use while j+1 loads)" end
  local wgs = m // 64
  local acc = n // 2 + d // 2 + n // 4   -- S, O and the packed P of one thread
  if acc > MAX_REGS[wgs] then
    return ("accumulators need %d registers per thread (n=%d, d=%d); %d warpgroups allow %d"):format(
      acc, n, d, wgs, MAX_REGS[wgs])
  end
  return ptx.smem_reason(smem, arch)
end

return hopper
