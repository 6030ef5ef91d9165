-- sparsek/template.lua — the text template engine for CUDA (.cut files).
--
-- A template reads like the kernel it emits:
--   $ for i = 0, n - 1 do        a line whose first non-blank character is `$` (not followed
--   $ end                        by `{`) is Lua code; the `$` and one blank after it go
--   int v${i} = ${i * 2};        `${expr}` in any other line is replaced by tostring(expr)
--                                (an error naming file:line if expr is nil); the rest of the
--                                line is copied as is, newline included.
-- compile() turns a template into a Lua chunk with exactly one Lua line per template line and
-- chunkname "@<name>", so Lua's own error positions and tracebacks name "templates/x.cut:N"
-- with no line map to keep. Names the chunk reserves for itself: _ENV, __out, __val.

local template = {}

-- What a template sees besides its own environment: pure helpers, nothing that reaches
-- outside the generator. (The engine adds emit and include per render.)
local SAFE = {
  string = string, math = math, table = table, pairs = pairs, ipairs = ipairs,
  tostring = tostring, tonumber = tonumber, type = type, error = error, assert = assert,
  select = select, next = next,
}

-- Index of the `}` closing a `${` whose expression starts at `i`, or nil. Braces balance and
-- quoted strings are skipped, so `${ {1, 2}[k] }` and `${ ok and "}" or "" }` both work.
local function find_close(line, i)
  local depth = 1
  while i <= #line do
    local c = line:sub(i, i)
    if c == '"' or c == "'" then
      i = i + 1
      while i <= #line and line:sub(i, i) ~= c do
        if line:sub(i, i) == "\\" then i = i + 1 end
        i = i + 1
      end
    elseif c == "{" then
      depth = depth + 1
    elseif c == "}" then
      depth = depth - 1
      if depth == 0 then return i end
    end
    i = i + 1
  end
  return nil
end

-- The Lua statement for one text line: a single __out(...) of its literal pieces and values.
-- %q never produces a newline here (lines are split on "\n"), which keeps the 1:1 line map.
local function text_line(name, lineno, line, has_newline)
  local parts, pos = {}, 1
  while true do
    local s = line:find("${", pos, true)
    if not s then break end
    if s > pos then parts[#parts + 1] = ("%q"):format(line:sub(pos, s - 1)) end
    local e = find_close(line, s + 2)
    if not e then error(("%s:%d: unterminated ${"):format(name, lineno), 0) end
    local expr = line:sub(s + 2, e - 1)
    if not expr:find("%S") then error(("%s:%d: empty ${}"):format(name, lineno), 0) end
    -- The parentheses keep one value of a multi-value expression; __val checks it is not nil.
    parts[#parts + 1] = ("__val((%s), %q)"):format(expr, expr)
    pos = e + 1
  end
  if pos <= #line then parts[#parts + 1] = ("%q"):format(line:sub(pos)) end
  if has_newline then parts[#parts + 1] = [["\n"]] end
  if #parts == 0 then return "" end
  return "__out(" .. table.concat(parts, ", ") .. ")"
end

-- Template text -> Lua source, one line per template line.
local function translate(name, text)
  local lines, pos, lineno = {}, 1, 0
  while pos <= #text do
    local nl = text:find("\n", pos, true)
    local line = text:sub(pos, (nl or #text + 1) - 1)
    lineno = lineno + 1
    local code = line:match("^%s*%$(.*)$")
    if code and code:sub(1, 1) ~= "{" then
      lines[lineno] = code:gsub("^[ \t]", "", 1)
    else
      lines[lineno] = text_line(name, lineno, line, nl ~= nil)
    end
    pos = (nl or #text) + 1
  end
  -- The prologue shares line 1 so that template line N stays Lua line N.
  return "local _ENV, __out, __val = ...; " .. table.concat(lines, "\n")
end

-- Raised from inside the template chunk (level 2), so the position is the template line.
local function val(v, expr)
  if v == nil then error(("${%s} is nil"):format(expr), 2) end
  return tostring(v)
end

-- Compiles template text into a function(env) -> string. Syntax errors name "<name>:<line>".
function template.compile(name, text)
  if type(name) ~= "string" or type(text) ~= "string" then
    error("template.compile(name, text): both must be strings", 2)
  end
  local chunk, err = load(translate(name, text), "@" .. name, "t")
  if not chunk then error(err, 0) end
  return function(env)
    env = env or {}
    local buf = {}
    local function out(...)
      local n = select("#", ...)
      table.move({ ... }, 1, n, #buf + 1, buf)
    end
    local own = {
      -- emit(s): appends text from a `$` line (for text built in Lua).
      emit = function(s)
        if s == nil then error("emit(nil)", 2) end
        buf[#buf + 1] = tostring(s)
      end,
      -- include(other, env2): renders another template here, with env2 or this env.
      include = function(other, env2)
        buf[#buf + 1] = template.render(other, env2 or env)
      end,
    }
    -- Lookups go to env, then emit/include, then SAFE; assignments stay in this render's
    -- scope, so a template never changes the caller's table.
    local scope = setmetatable({}, { __index = function(_, k)
      local v = env[k]
      if v == nil then v = own[k] end
      if v == nil then v = SAFE[k] end
      return v
    end })
    chunk(scope, out, val)
    return table.concat(buf)
  end
end

-- Compiled templates by name: a state's script set never changes, so neither do they.
local compiled = {}

-- Renders the script `name` ("templates/foo.cut") of the generator's script set with `env`.
function template.render(name, env)
  if type(name) ~= "string" then error("template.render: name must be a string", 2) end
  local fn = compiled[name]
  if not fn then
    local text, err = sparsek_read_script(name)
    if not text then error(err, 2) end
    fn = template.compile(name, text)
    compiled[name] = fn
  end
  return fn(env)
end

-- The Lua source compile() would load, for debugging a template ("why is line N wrong?").
function template.translate(name, text) return translate(name, text) end

return template
