-- templates/vec_add.lua — y = a*x + y over n floats: the smallest real family, kept as the
-- worked example of the generation contract (gen/lua/sparsek/gen.lua) and for the tests.
--
-- Kernel ABI (templates/vec_add.cut): (float a, const float *x, float *y, long long n), x and
-- y 16-byte aligned; launch variable of the grid rule: n.

local template = require("sparsek.template")

local family = {
  family = "vec_add",
  description = "y = a*x + y over n floats (grid-stride loop, float4 body, scalar tail)",
  keys = {
    { name = "threads", default = "256", values = { "64", "128", "256", "512" }, doc = "threads per block" },
    { name = "dtype",   default = "f32", values = { "f32" }, doc = "element type of x and y" },
  },
}

-- Each thread handles one float4 per grid-stride step.
local ELEMS_PER_THREAD = 4

-- Every combination of the listed values is valid on every arch the generator knows.
function family.validate(cfg, arch)
  return nil
end

function family.generate(cfg, arch, ctx)
  local threads = tonumber(cfg.threads)
  local name = ("sparsek_vec_add_t%d_%s"):format(threads, cfg.dtype)
  local path = "templates/vec_add.cut"
  return {
    template = path,
    source = template.render(path, {
      kernel_name = name, threads = threads, per_step = threads * ELEMS_PER_THREAD,
      lanes = { "x", "y", "z", "w" },
    }),
    kernel_name = name,
    -- One pass covers n when the grid is this large; the loop keeps any smaller grid correct.
    grid = ("cdiv(n,%d) 1 1"):format(threads * ELEMS_PER_THREAD),
    block = { threads, 1, 1 },
    cluster = { 1, 1, 1 },
    smem = 0,
  }
end

return family
