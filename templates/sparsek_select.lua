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
--      reads each row's theta off that sorted list (a one-row tile skips 2 and 3: theta0 is its
--      theta); then (3b) where the tile has more than one 32-row sub-tile and its keys are in
--      shared memory, rewrites the gathered set by level: the entries whose key reaches sub-tile
--      s's first row key are the list's first count[s] (row keys only rise down the tile, so
--      every later row selects among them), the highest level first, each level ascending; a new
--      key below the first row's key (selected by no row) is left out,
--   4. buckets the prefix scores that can be partial for some row's tau (in (theta_min - 1,
--      theta_max + 1)) by value, and solves each row's tau on the exact piecewise-linear sum of
--      clamps (bucket suffix sums + the two partial buckets + the row's new keys) by
--      safeguarded Newton, bisection as the fallback; each warp solves a run of consecutive
--      rows and starts a row from the previous row's tau, where the row's f and slope are the
--      previous row's plus its one new key (no evaluation pass at all where that key is below
--      tau: 0.8 evaluations per row on average, was 2.7, tests/test_sparsek.c). Tiles with at most 16
--      such rows (decode) skip the buckets: each Newton evaluation is one block-wide pass over
--      those scores, copied once to shared memory.
-- CUDA cores only (no tensor cores): the same text serves every arch from sm_80.
--
-- phase=full (the default) is that one kernel. With few tiles and long prefixes (decode: one tile
-- per batch and KV head) one CTA per tile reading the whole prefix several times is bound by
-- one SM's bandwidth, so the runtime splits the prefix passes over many CTAs (chunks of `chunk`
-- keys), three launches on one stream (templates/sparsek_select_split.cut, then this one):
--   hist     grid (nchunk, Hkv*ntiles, B): counts the top 11-bit digit of score_key(u) over the
--            tile prefix into one histogram per tile (shared memory, then global atomics into a
--            histogram the runtime zeroed with cuMemsetD32Async);
--   compact  same grid: every CTA finds the bin d of the prefix's k-th key and L = (lowest
--            score of bin d) - 1 from the histogram, and writes from its chunk the top list (keys
--            of digit >= d as 64-bit selection keys, ascending: a region per chunk) and the tau
--            list (scores > L, packed); one CTA also writes d and the keys in bins above d;
--   finish   grid as full: the same algorithm with the top list as the source of theta0 and the
--            gathered set, the tau list as the source of tau (exact: every key outside the top
--            list is below the top k, every score <= L adds 0 to each row's sum of clamps). The
--            top list is copied once to shared memory when it fits; theta0's radix select starts
--            at the second digit (the first is d).
--
-- phase=anchor, then phase=anchored: the one-kernel selection for prefill with long prefixes, whose
-- tiles would each read their whole prefix (O(Sq * Sk / rows)). anchor (grid (ceil(ntiles /
-- anchor_tiles), Hkv, B)) writes for every anchor_tiles-th tile's prefix [0, n) a record
-- (AnchorHead, templates/sparsek_select_params.cut): theta0 by the sampled prefilter, the top k keys
-- (ascending) and the scores above theta0 - 1. anchored is phase=full with the tile's anchor's
-- record plus the keys [n, n0) after it as the sources: theta0 never decreases as the prefix
-- grows, so the tile's top k lies among them and every score that can take part in a row's tau
-- is among them (exact for any scores; about k + list + anchor_tiles * rows entries instead of
-- n0).
--
-- phase=state is the decode selection from a decode state (sparsek_sparse_attention_decode): one
-- CTA per batch and KV head, as full, with a DecodeState per (batch, KV head) in caller memory
-- (templates/sparsek_select_params.cut). The state written by the call before holds the top
-- min(k, n) keys of that call's prefix [0, n) and its scores above theta0 - 1. Scores do not depend
-- on the query, so theta0 never decreases as the prefix grows: the top k of the new prefix [0, n0)
-- lies among those keys and the new keys [n, n0), and every score that can take part in a tau is
-- in the list or among the new keys. The call reads those (O(k + list + new keys), not O(n0)).
-- The usual step (one row, one new key) runs first, apart (decode_step): theta0 by a minimum over
-- the top list when the key beats it, tau by one pass over the tau list and a walk over the
-- breakpoints just above the old tau when the key is above it; the key joins the tau list.
-- Up to 64 new keys or Sq > 1 rows go the same way one key at a time (decode_rows), each row's
-- theta and tau read off on the way. Otherwise (the general path) theta0 is the state's when no
-- new key beats it (else a radix select over the short
-- top list), the gathered set, the rows' theta and tau follow as in finish, and the state is
-- written back for n0 (the tau list cut again when theta0 moved). A state that does not match (zeroed,
-- another k, w or capacity, a longer prefix than this call's) is rebuilt from the whole prefix,
-- as phase=full selects; a rebuild the caller asks for on a long prefix runs on the lists of the
-- split selection's hist and compact instead (launched before it; `chunk` is theirs), as finish.

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
    { name = "phase",   default = "full",  values = { "full", "hist", "compact", "finish", "state", "anchor", "anchored" },
      doc = "full: one kernel per tile; hist, compact, finish: the split selection for few tiles and long prefixes; state: decode from a decode state; anchor, anchored: long prefill prefixes from anchor records" },
    { name = "chunk",   default = "4096",  values = { "1024", "2048", "4096", "8192" },
      doc = "split phases (and state, for a rebuild on their lists): prefix keys per CTA of hist and compact" },
    { name = "minblocks", default = "1", values = { "1", "2" },
      doc = "phase=full, anchored: CTAs per SM the registers are capped for (__launch_bounds__); 2 also needs the shared memory of two" },
  },
}

local BINS = 2048       -- radix digit bins and tau buckets
local SEL_CAP = 2048    -- radix candidates compacted into shared memory once this few remain
local MAX_CHUNKS = 256  -- chunks per tile prefix in the split phases (runtime/sk_sparsek.c keeps to it)

-- Keys a phase does not use take their defaults, so one kernel has one canonical config.
function family.resolve(cfg, arch)
  local phase = cfg.phase
  if phase == "full" or phase == "anchored" or phase == "anchor" then cfg.chunk = "4096" end
  if phase ~= "full" and phase ~= "anchored" then cfg.minblocks = "1" end
  if cfg.phase == "hist" or cfg.phase == "compact" then cfg.hcap = "16384" end
  return cfg
end

function family.validate(cfg, arch)
  if ptx.arch_number(arch) < 80 then return "sparsek_select needs sm_80 or newer" end
  local rows, threads = tonumber(cfg.rows), tonumber(cfg.threads)
  if (cfg.phase == "full" or cfg.phase == "finish" or cfg.phase == "state" or cfg.phase == "anchored") and threads < 2 * rows then
    return ("threads=%d must be at least 2*rows=%d (one thread per sorted slot)"):format(threads, 2 * rows)
  end
  return nil
end

local function shape(cfg)
  local hcap = tonumber(cfg.hcap)
  local dyn = math.max(hcap * 4, SEL_CAP * 8)
  return { rows = tonumber(cfg.rows), threads = tonumber(cfg.threads), hcap = hcap, smem = dyn,
           chunk = tonumber(cfg.chunk), minblocks = tonumber(cfg.minblocks) }
end

-- The kernel name states the phase and the keys it uses.
local function kernel_name(phase, s)
  if phase == "full" or phase == "anchored" then
    return ("sparsek_select_%sr%d_t%d_h%d%s"):format(phase == "anchored" and "anchored_" or "", s.rows, s.threads,
                                                     s.hcap, s.minblocks > 1 and "_b" .. s.minblocks or "")
  end
  if phase == "anchor" then
    return ("sparsek_select_anchor_r%d_t%d_h%d"):format(s.rows, s.threads, s.hcap)
  end
  if phase == "state" then
    return ("sparsek_select_state_r%d_t%d_h%d_c%d"):format(s.rows, s.threads, s.hcap, s.chunk)
  end
  if phase == "finish" then
    return ("sparsek_select_finish_r%d_t%d_h%d_c%d"):format(s.rows, s.threads, s.hcap, s.chunk)
  end
  return ("sparsek_select_%s_r%d_t%d_c%d"):format(phase, s.rows, s.threads, s.chunk)
end

function family.generate(cfg, arch, ctx)
  local s = shape(cfg)
  local phase = cfg.phase
  local name = kernel_name(phase, s)
  local env = {
    rows = s.rows, threads = s.threads, hcap = s.hcap, bins = BINS, sel_cap = SEL_CAP,
    chunk = s.chunk, max_chunks = MAX_CHUNKS, phase = phase, kernel_name = name, minblocks = s.minblocks,
  }
  env.common = template.render("templates/sparsek_common.cut", env)
  env.params = template.render("templates/sparsek_select_params.cut", env)
  env.lib = template.render("templates/sparsek_select_lib.cut", env)
  local split = phase == "hist" or phase == "compact"
  local path = split and "templates/sparsek_select_split.cut" or "templates/sparsek_select.cut"
  return {
    template = path,
    source = template.render(path, env),
    kernel_name = name,
    grid = split and ("nchunk hkv*cdiv(sq,%d) b"):format(s.rows)
           or phase == "anchor" and "nanchor hkv b"
           or ("cdiv(sq,%d) hkv b"):format(s.rows),
    block = { s.threads, 1, 1 },
    cluster = { 1, 1, 1 },
    smem = split and 0 or s.smem,
  }
end

return family
