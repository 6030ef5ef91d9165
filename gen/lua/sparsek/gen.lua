-- sparsek/gen.lua — the generation contract: which families exist, what their configs mean,
-- and the source + launch metadata of one (family, config, arch).
--
-- A family is the module templates/<family>.lua. It returns:
--   { family = "vec_add", description = "...",
--     keys = { { name = "threads", default = "256", values = { "64", ... }, doc = "...",
--                check = function(v) return nil or "reason" end }, ... },  -- values, check optional
--     resolve = function(cfg, arch) ... end,         -- optional: replaces "auto"-style values
--     validate = function(cfg, arch) return nil or "reason" end,            -- optional
--     generate = function(cfg, arch, ctx) return { template =, source =, kernel_name =,
--                grid = "cdiv(n,1024) 1 1", block = { x, y, z }, cluster = { x, y, z },
--                smem = bytes } end }
-- cfg maps every key name to a string value. A caller's mistake (unknown key, bad value, a
-- combination validate rejects) is raised as { invalid_config = reason } — or, from family
-- code, as a string starting "invalid config: " — and the C side reports it as
-- SPARSEK_INVALID_ARGUMENT with the reason alone; anything else is a generator bug and comes
-- back as SPARSEK_GENERATOR with a traceback.

local template = require("sparsek.template")

local gen = {}

-- Targets the generator knows; families decide which of them they support.
local ARCHS = { "sm_80", "sm_86", "sm_89", "sm_90", "sm_90a", "sm_100a", "sm_120" }
local KNOWN_ARCH = {}
for _, a in ipairs(ARCHS) do KNOWN_ARCH[a] = true end

local function invalid(fmt, ...)
  error({ invalid_config = fmt:format(...) }, 0)
end

-- A family module that breaks the contract is a generator bug: name the file.
local function broken(name, fmt, ...)
  error(("templates/%s.lua: " .. fmt):format(name, ...), 0)
end

local function contains(list, v)
  for _, x in ipairs(list) do
    if x == v then return true end
  end
  return false
end

function gen.archs()
  return table.move(ARCHS, 1, #ARCHS, 1, {})
end

local function check_arch(arch)
  if not KNOWN_ARCH[arch] then
    invalid("unknown arch '%s' (known: %s)", tostring(arch), table.concat(ARCHS, " "))
  end
end

-- Names of the modules templates/<name>.lua, sorted (the script list is sorted).
local function module_names()
  local names = {}
  for _, path in ipairs(sparsek_list_scripts("templates/")) do
    local n = path:match("^templates/([%w_]+)%.lua$")
    if n then names[#names + 1] = n end
  end
  return names
end

-- The family's module, checked once against the contract above.
local checked = {}
local function check_family(name, fam)
  if type(fam) ~= "table" then broken(name, "returned a %s, not a family table", type(fam)) end
  if fam.family ~= name then broken(name, "family = %s; expected \"%s\"", tostring(fam.family), name) end
  if type(fam.generate) ~= "function" then broken(name, "has no generate function") end
  for _, f in ipairs({ "validate", "resolve" }) do
    if fam[f] ~= nil and type(fam[f]) ~= "function" then broken(name, "%s is not a function", f) end
  end
  if type(fam.keys) ~= "table" then broken(name, "keys is not a list") end
  local seen = {}
  for i, k in ipairs(fam.keys) do
    if type(k) ~= "table" or type(k.name) ~= "string" or not k.name:match("^[%w_]+$") then
      broken(name, "key %d has no valid name", i)
    end
    if seen[k.name] then broken(name, "key '%s' is listed twice", k.name) end
    seen[k.name] = true
    if type(k.default) ~= "string" or not k.default:match("^%S+$") then
      broken(name, "key '%s' has no default (a non-empty string without blanks)", k.name)
    end
    if k.values ~= nil then
      if type(k.values) ~= "table" then broken(name, "key '%s': values is not a list", k.name) end
      if not contains(k.values, k.default) then
        broken(name, "key '%s': default '%s' is not among its values", k.name, k.default)
      end
    end
    if k.check ~= nil and type(k.check) ~= "function" then
      broken(name, "key '%s': check is not a function", k.name)
    end
  end
  checked[name] = fam
  return fam
end

local function load_family(name)
  if type(name) ~= "string" then invalid("family must be a string") end
  if checked[name] then return checked[name] end
  if not name:match("^[%w_]+$") or not sparsek_read_script("templates/" .. name .. ".lua") then
    -- The module list, not gen.families(): a broken module must not hide this message.
    invalid("unknown family '%s' (modules under templates/: %s)", name, table.concat(module_names(), " "))
  end
  return check_family(name, require(name))
end

-- Sorted names of the modules under templates/ that are families (have a generate function).
-- Helper modules may sit beside them; a module that fails to load is an error, not skipped.
function gen.families()
  local out = {}
  for _, name in ipairs(module_names()) do
    local m = checked[name] or require(name)
    if type(m) == "table" and type(m.generate) == "function" then
      check_family(name, m)
      out[#out + 1] = name
    end
  end
  return out
end

-- The keys of a family, in the family's order (copies: callers cannot change the family).
function gen.describe(family)
  local fam = load_family(family)
  local out = {}
  for i, k in ipairs(fam.keys) do
    out[i] = { name = k.name, default = k.default, doc = k.doc,
               values = k.values and table.move(k.values, 1, #k.values, 1, {}) }
  end
  return out
end

local function key_names(fam)
  local names = {}
  for i, k in ipairs(fam.keys) do names[i] = k.name end
  return names
end

local function check_value(fam, k, v)
  if k.values and not contains(k.values, v) then
    invalid("%s: %s=%s is not one of: %s", fam.family, k.name, v, table.concat(k.values, " "))
  end
  if k.check then
    local reason = k.check(v)
    if reason ~= nil then invalid("%s: %s=%s: %s", fam.family, k.name, v, tostring(reason)) end
  end
end

-- "k=v k=v" (any blanks between pairs) -> cfg with every key, defaults filled in.
local function parse(fam, config)
  if config ~= nil and type(config) ~= "string" then invalid("config must be a string") end
  local by_name = {}
  for _, k in ipairs(fam.keys) do by_name[k.name] = k end
  local cfg = {}
  for pair in (config or ""):gmatch("%S+") do
    local name, v = pair:match("^([^=]*)=(.*)$")
    if not name then invalid("%s: '%s' is not key=value", fam.family, pair) end
    if name == "" then invalid("%s: '%s' has no key", fam.family, pair) end
    if not by_name[name] then
      invalid("%s: unknown key '%s' (keys: %s)", fam.family, name, table.concat(key_names(fam), " "))
    end
    if v == "" then invalid("%s: key '%s' has an empty value", fam.family, name) end
    if cfg[name] then invalid("%s: duplicate key '%s'", fam.family, name) end
    cfg[name] = v
  end
  for _, k in ipairs(fam.keys) do
    cfg[k.name] = cfg[k.name] or k.default
    check_value(fam, k, cfg[k.name])
  end
  return cfg
end

local function canonical(fam, cfg)
  local names = key_names(fam)
  table.sort(names)
  local pairs_ = {}
  for i, n in ipairs(names) do pairs_[i] = n .. "=" .. cfg[n] end
  return table.concat(pairs_, " ")
end

-- Validates a config and returns its canonical string (and the resolved cfg table).
function gen.normalize(family, config, arch)
  check_arch(arch)
  local fam = load_family(family)
  local cfg = parse(fam, config)
  if fam.resolve then
    cfg = fam.resolve(cfg, arch) or cfg
    -- resolve is the family's own code: what it picks must still be a legal value.
    for _, k in ipairs(fam.keys) do
      local v = cfg[k.name]
      if type(v) ~= "string" or (k.values and not contains(k.values, v)) then
        broken(family, "resolve set %s=%s, which is not an allowed value", k.name, tostring(v))
      end
    end
  end
  if fam.validate then
    local reason = fam.validate(cfg, arch)
    if reason ~= nil then invalid("%s", tostring(reason)) end
  end
  return canonical(fam, cfg), cfg
end

-- The tuner's search space for a problem. A family lists it as
--   space = { { name = "m", values = { "64", "128" } }, ... }   (tile keys, tried in order)
-- Keys the caller gives in `config` stay fixed; every combination of the others is resolved
-- (remaining "auto" keys), validated, and reported one per line, in a stable order:
--   "ok\t<canonical config>" or "pruned\t<canonical config>\t<reason>".
-- Combinations that resolve to the same canonical config are reported once. `space` may also
-- be a function(cfg, arch) returning such a list, for families whose paths tune different keys.
function gen.candidates(family, config, arch)
  check_arch(arch)
  local fam = load_family(family)
  local base = parse(fam, config)
  local space = fam.space
  if type(space) == "function" then space = space(base, arch) end
  if type(space) ~= "table" or #space == 0 then invalid("%s has no search space", family) end
  local given = {}
  for pair in (config or ""):gmatch("%S+") do given[pair:match("^([^=]*)=")] = true end
  local free = {}
  for _, k in ipairs(space) do
    if not given[k.name] then free[#free + 1] = k end
  end
  local lines, seen = {}, {}
  local function visit(i, cfg)
    if i > #free then
      local c = {}
      for k, v in pairs(cfg) do c[k] = v end
      if fam.resolve then c = fam.resolve(c, arch) or c end
      local canon = canonical(fam, c)
      if seen[canon] then return end
      seen[canon] = true
      local reason = fam.validate and fam.validate(c, arch)
      if reason == nil then
        lines[#lines + 1] = "ok\t" .. canon
      else
        lines[#lines + 1] = "pruned\t" .. canon .. "\t" .. tostring(reason):gsub("[\t\n]", " ")
      end
      return
    end
    local k = free[i]
    for _, v in ipairs(k.values) do
      cfg[k.name] = v
      visit(i + 1, cfg)
    end
    cfg[k.name] = base[k.name]
  end
  visit(1, base)
  return table.concat(lines, "\n")
end

local function check_dims(family, what, t)
  if type(t) ~= "table" then broken(family, "generate: %s is not a table of 3 integers", what) end
  for i = 1, 3 do
    local v = math.tointeger(t[i])
    if not v or v < 1 or v > 0x7fffffff then
      broken(family, "generate: %s[%d] = %s is not a positive integer", what, i, tostring(t[i]))
    end
  end
  return { math.tointeger(t[1]), math.tointeger(t[2]), math.tointeger(t[3]) }
end

-- Checks what a family's generate returned; errors name the family file.
local function check_result(family, r)
  if type(r) ~= "table" then broken(family, "generate returned a %s, not a table", type(r)) end
  for _, f in ipairs({ "template", "source", "kernel_name", "grid" }) do
    if type(r[f]) ~= "string" or r[f] == "" then
      broken(family, "generate: field '%s' is missing or not a non-empty string", f)
    end
  end
  if not r.kernel_name:match("^[%a_][%w_]*$") then
    broken(family, "generate: kernel_name '%s' is not a C identifier", r.kernel_name)
  end
  if not r.source:find(r.kernel_name, 1, true) then
    broken(family, "generate: the source never mentions kernel '%s'", r.kernel_name)
  end
  local smem = math.tointeger(r.smem)
  if not smem or smem < 0 or smem > 0xffffffff then
    broken(family, "generate: smem = %s is not a byte count", tostring(r.smem))
  end
  return check_dims(family, "block", r.block), check_dims(family, "cluster", r.cluster), smem
end

-- The DO-NOT-EDIT banner: everything needed to regenerate this exact text.
local function banner(family, fam, cfg, arch, cache_key, r)
  local lines = {
    ("// Generated by SparseK from %s - DO NOT EDIT"):format(r.template),
    ("// family: %s"):format(family),
    ("// arch: %s"):format(arch),
    "// config:",
  }
  local names = key_names(fam)
  table.sort(names)
  for _, n in ipairs(names) do lines[#lines + 1] = ("//   %s = %s"):format(n, cfg[n]) end
  lines[#lines + 1] = ("// cache key: %s"):format(cache_key)
  lines[#lines + 1] = ("// kernel: %s"):format(r.kernel_name)
  return table.concat(lines, "\n") .. "\n\n"
end

-- Source and launch metadata for a canonical config (as gen.normalize returned it).
function gen.generate(family, config, arch, cache_key)
  if type(cache_key) ~= "string" or cache_key:find("[%c]") then
    invalid("cache key must be a one-line string")
  end
  local canon, cfg = gen.normalize(family, config, arch)
  if canon ~= config then invalid("%s: config '%s' is not canonical ('%s')", family, tostring(config), canon) end
  local fam = checked[family]
  local ctx = { family = family, arch = arch, config = canon, cache_key = cache_key, template = template }
  local copy = {}
  for k, v in pairs(cfg) do copy[k] = v end
  local r = fam.generate(copy, arch, ctx)
  local block, cluster, smem = check_result(family, r)
  return {
    family = family, arch = arch, config = canon, cache_key = cache_key,
    template = r.template, kernel_name = r.kernel_name, grid = r.grid,
    source = banner(family, fam, cfg, arch, cache_key, r) .. r.source,
    block = block, cluster = cluster, smem = smem,
  }
end

return gen
