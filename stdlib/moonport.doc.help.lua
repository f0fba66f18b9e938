--- moonport.doc.help: the text of help() (the REPL's global) from
--- moonport.doc's walk of the runtime and the build's index of the doc
--- comments.
local doc = require "moonport.doc"

local help = {}

local index, file_of, block_at, own_params = doc.index, doc.file_of, doc.block_at, doc.own_params

local function short_source(source, line)
  if not source then return nil end
  return source:gsub("^@", "") .. (line and (":" .. line) or "")
end

local function signature(entry)
  local prefix = entry.owner.name .. (entry.method and ":" or ".")
  local parsed = entry.doc and entry.doc.block
  local returns = {}
  for _, r in ipairs(parsed and parsed.returns or {}) do returns[#returns + 1] = r.type end
  return prefix .. entry.name .. "(" .. table.concat(entry.params, ", ") .. ")"
    .. (#returns > 0 and (" -> " .. table.concat(returns, ", ")) or "")
end

local function pad(s, width) return s .. string.rep(" ", width - #s) end

-- Name, type and description lines, aligned.
local function table_lines(out, rows)
  local w1, w2 = 0, 0
  for _, r in ipairs(rows) do w1, w2 = math.max(w1, #r[1]), math.max(w2, #r[2]) end
  for _, r in ipairs(rows) do
    local line = "  " .. pad(r[1], w1) .. "  " .. (r[3] ~= "" and pad(r[2], w2) .. "  " .. r[3] or r[2])
    out[#out + 1] = (line:gsub("%s+$", ""))
  end
end

local function render_block(out, block)
  local d = block
  for _, line in ipairs(d.text) do out[#out + 1] = line end
  if d.deprecated then out[#out + 1] = "Deprecated." end
  if #d.params > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Parameters:"
    local rows = {}
    for _, p in ipairs(d.params) do rows[#rows + 1] = {p.name .. (p.optional and "?" or ""), p.type, p.description} end
    table_lines(out, rows)
  end
  if #d.returns > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Returns:"
    local rows = {}
    for _, r in ipairs(d.returns) do rows[#rows + 1] = {r.type, r.description, ""} end
    table_lines(out, rows)
  end
  if #d.fields > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Fields:"
    local rows = {}
    for _, f in ipairs(d.fields) do rows[#rows + 1] = {f.name, f.type, f.description} end
    table_lines(out, rows)
  end
  for _, s in ipairs(d.see) do out[#out + 1] = "See: " .. s end
end

local function help_function(entry)
  local out = {signature(entry)}
  local d = entry.doc
  if not d then
    out[#out + 1] = ""
    out[#out + 1] = "(no documentation)"
    return table.concat(out, "\n")
  end
  if d.via then
    out[#out + 1] = string.format("  calls %s on the default client (%s.default_client())", d.via, entry.owner.name)
  end
  out[#out + 1] = ""
  render_block(out, d.block)
  local where = d.source and not d.source:find("/_meta/", 1, true) and short_source(d.source, d.line)
  if where then
    out[#out + 1] = ""
    out[#out + 1] = "Defined at " .. where
  end
  return table.concat(out, "\n")
end

local function help_node(node)
  local out = {}
  local block = node.kind == "module" and node.block or node.class_block
  if node.kind == "module" then
    out[#out + 1] = string.format("module %s  (local %s = require \"%s\")", node.name, node.name, node.name)
  elseif node.kind == "class" then
    out[#out + 1] = string.format("class %s", node.class)
  else
    out[#out + 1] = string.format("table %s", node.name)
  end
  if block and #block.lines > 0 then
    out[#out + 1] = ""
    render_block(out, block)
  end
  local rows = {}
  local function list(n)
    for _, e in ipairs(n.functions) do
      local s = e.doc and e.doc.block.summary or "(no documentation)"
      rows[#rows + 1] = {n.name .. (e.method and ":" or ".") .. e.name .. "(" .. table.concat(e.params, ", ") .. ")", s, ""}
    end
  end
  list(node)
  for _, child in ipairs(node.children) do if child.kind == "table" then list(child) end end
  if #rows > 0 then
    out[#out + 1] = ""
    out[#out + 1] = node.kind == "class" and "Methods:" or "Functions:"
    table_lines(out, rows)
  end
  local classes = {}
  for _, child in ipairs(node.children) do
    if child.kind == "class" then classes[#classes + 1] = string.format("help(%s)", child.name) end
  end
  if #classes > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Classes: " .. table.concat(classes, ", ")
  end
  if #node.fields > 0 then
    out[#out + 1] = ""
    out[#out + 1] = "Fields:"
    local frows = {}
    for _, f in ipairs(node.fields) do frows[#frows + 1] = {node.name .. "." .. f.name, f.type, f.description} end
    table_lines(out, frows)
  end
  local first = node.functions[1]
  if first then
    out[#out + 1] = ""
    if node.kind == "class" then
      out[#out + 1] = string.format("help \"%s\" shows one method.", first.qname)
    else
      out[#out + 1] = string.format("help(%s) shows one function.", first.qname)
    end
  end
  return table.concat(out, "\n")
end

local standard = {"_G", "string", "table", "math", "io", "os", "coroutine", "utf8", "debug", "package"}

-- "string.format" for a function of Lua's standard library, or nil.
local function standard_name(f)
  for _, lib in ipairs(standard) do
    local t = lib == "_G" and _G or _G[lib]
    if type(t) == "table" then
      for k, v in pairs(t) do
        if v == f and type(k) == "string" then return lib == "_G" and k or (lib .. "." .. k) end
      end
    end
  end
  return nil
end

-- A function no module exposes: a script's or a library's (doc read from
-- its file), or one of Lua's own.
local function help_other_function(f)
  local std = standard_name(f)
  if std then
    return string.format("%s: Lua's standard library (https://www.lua.org/manual/5.4/manual.html#pdf-%s)", std, std)
  end
  local info = debug.getinfo(f, "S")
  if info.what ~= "Lua" then return "a built-in function with no documentation" end
  local params = own_params(f) or {}
  local out = {string.format("function(%s)  [%s:%d]", table.concat(params, ", "), info.short_src, info.linedefined)}
  local block = info.linedefined > 0 and block_at(file_of(info.source), info.linedefined)
  out[#out + 1] = ""
  if block and block.has_text then render_block(out, block) else out[#out + 1] = "(no documentation)" end
  return table.concat(out, "\n")
end

local function orientation()
  local names = {}
  for _, node in ipairs(index().modules) do names[#names + 1] = node.name end
  return table.concat({
    "moonport's modules: " .. table.concat(names, ", "),
    "",
    "  clari = require \"clari\"      load a module (a REPL global lives until you quit)",
    "  help(clari)                  its functions, one line each",
    "  help(clari.export)           one function: signature, parameters, what it returns",
    "  help(job)                    a value's class (a Job, a client)",
    "  help \"clari.Client:export\"   the same, by name",
    "",
    "Editors: `moonport types` writes LuaLS definition files of all of this.",
  }, "\n")
end

--- The documentation of a value, as text: a function of a module (its
--- signature, doc, parameters and results), a module, class or nested table
--- (one line per function), an object whose class is known (a Job, a
--- client), or a qualified name ("clari.export", "clari.Client:export",
--- "json"). With no argument: how to start.
---@param value any  a function, a module table, an object, or a name
---@return string
function help.help(...)
  if select("#", ...) == 0 then return orientation() end
  local value = ...
  local idx = index()
  if type(value) == "string" then
    local found = idx.by_name[value]
    if found == nil then
      return string.format("no documentation for '%s' (help() lists the modules)", value)
    end
    if found.functions then return help_node(found) end
    return help_function(found)
  end
  if type(value) == "function" then
    local entry = idx.by_function[value]
    if entry then return help_function(entry) end
    return help_other_function(value)
  end
  if type(value) == "table" then
    local node = idx.by_value[value]
    if type(node) ~= "table" then node = idx.by_value[getmetatable(value) or false] end
    if type(node) == "table" then return help_node(node) end
    return "a table with no documentation (help() lists the modules)"
  end
  if value == nil then return "help: got nil (a misspelt name? help() lists the modules)" end
  return string.format("a %s with no documentation (help() lists the modules)", type(value))
end

--- The REPL's global `help`: prints doc.help(...).
function help.print_help(...)
  local text = help.help(...)
  local ok, activity = pcall(require, "moonport.activity")
  local width = ok and activity.columns() or 0
  if width >= 20 and type(text) == "string" then text = help.wrap(text, width) end
  print(text)
end

--- Wraps each line of `text` longer than `width` at word boundaries; the
--- continuation keeps the line's indentation (plus two spaces).
function help.wrap(text, width)
  local out = {}
  for line in (text .. "\n"):gmatch("(.-)\n") do
    local indent = line:match("^(%s*)")
    local first = true
    while #line > width do
      local cut
      for i = width + 1, #indent + 2, -1 do
        if line:sub(i, i) == " " then cut = i; break end
      end
      if not cut then break end
      out[#out + 1] = line:sub(1, cut - 1)
      line = indent .. (first and "  " or "  ") .. line:sub(cut + 1):gsub("^%s+", "")
      first = false
    end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

return help
