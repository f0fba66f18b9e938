--- moonport.doc: the doc comments of moonport's modules, read at run time.
--- The one source of `moonport types` (LuaLS `---@meta` files) and of the
--- REPL's help() (stdlib/README.md): a function's doc is the block of `---`
--- lines right above its `function` line; the functions written in Swift
--- have theirs in moonport.native_docs.lua, matched by qualified name.
---
---   local doc = require "moonport.doc"
---   print(doc.help(require("clari").export))
---   doc.write("moonport-types")   --> the list of files written
---   doc.missing()                 --> exposed functions that have no doc
---
--- Nothing here is hand-listed per function: the modules are walked as the
--- runtime builds them, so a function added without a doc shows up in
--- doc.missing() (and fails TypesTests).
local stdlib = require "moonport.stdlib"

local doc = {}

--- The public modules, in the order help() and `moonport types` list them
--- (the last four only when this build has them).
doc.modules = {"json", "http", "csv", "ndjson", "log", "task", "state", "moonport",
  "clari", "claravine", "quantive", "cordial", "mediarithmics", "batch", "workflow", "dates", "reconcile"}

---------------------------------------------------------------------------
-- Source text and doc blocks
---------------------------------------------------------------------------

local function split_lines(text)
  local lines = {}
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = (line:gsub("\r$", "")) end
  return lines
end

local line_cache = {}

-- The lines of a chunk's source as debug.getinfo names it: "@stdlib/NAME.lua"
-- is the stdlib module as it was loaded (compiled in, or MOONPORT_STDLIB_DIR);
-- "@PATH" a file on disk. nil when there is no text (a chunk of the REPL).
local function source_lines(source)
  local cached = line_cache[source]
  if cached ~= nil then return cached or nil end
  local text
  local name = source:match("^@stdlib/(.+)%.lua$")
  if name then text = stdlib.source(name) end
  if text == nil and source:sub(1, 1) == "@" then
    local f = io.open(source:sub(2), "rb")
    if f then
      text = f:read("a")
      f:close()
    end
  end
  line_cache[source] = text and split_lines(text) or false
  return line_cache[source] or nil
end

local function module_source(name) return "@stdlib/" .. name .. ".lua" end

-- `---` starts a doc line; `----...` (a ruler) does not.
local function is_doc_line(line)
  return line ~= nil and line:match("^%s*%-%-%-") ~= nil and line:match("^%s*%-%-%-%-") == nil
end

-- The doc block right above line n: its lines (indentation removed), maybe none.
local function block_above(lines, n)
  local first = n
  while first > 1 and is_doc_line(lines[first - 1]) do first = first - 1 end
  local block = {}
  for i = first, n - 1 do block[#block + 1] = (lines[i]:gsub("^%s+", "")) end
  return block
end

-- The doc block that starts a file (the module's description).
local function leading_block(lines)
  local block = {}
  for _, line in ipairs(lines) do
    if not is_doc_line(line) then break end
    block[#block + 1] = (line:gsub("^%s+", ""))
  end
  return block
end

-- Whether a block says something: a line of text besides the annotations
-- (a block of bare @param lines is not a doc).
local function has_text(block)
  for _, line in ipairs(block or {}) do
    if line:match("^%-%-%-%s*[^@%s]") then return true end
  end
  return false
end

---------------------------------------------------------------------------
-- Annotations
---------------------------------------------------------------------------

-- Splits "TYPE rest" where TYPE may hold spaces inside brackets or around
-- `|` and `:` ("fun(a: string): integer", "table<string, any>").
local function split_type(s)
  local depth, i, n = 0, 1, #s
  while i <= n do
    local c = s:sub(i, i)
    if c:match("[%(<{%[]") then
      depth = depth + 1
    elseif c:match("[%)>}%]]") then
      depth = depth - 1
    elseif c:match("%s") and depth <= 0 then
      local j = s:match("^%s*()", i)
      local before, after = s:sub(i - 1, i - 1), s:sub(j, j)
      if before == ":" or before == "|" or after == "|" or (after == ":" and before == ")") then
        i = j - 1
      else
        return s:sub(1, i - 1), s:sub(j)
      end
    end
    i = i + 1
  end
  return s, ""
end

local function clean_description(s)
  return (s:gsub("^#%s*", ""):gsub("^%-%-%s*", ""):gsub("%s+$", ""))
end

-- A doc block read: text (description lines), params {name=, optional=,
-- type=, description=}, returns {type=, description=}, fields, see.
local function parse_block(block)
  local d = {text = {}, params = {}, returns = {}, fields = {}, see = {}, deprecated = false}
  for _, line in ipairs(block) do
    local body = line:gsub("^%-%-%-", "")
    local tag, rest = body:match("^%s*@(%w+)%s*(.-)%s*$")
    if tag == "param" then
      local name, tail = rest:match("^(%S+)%s*(.*)$")
      if name then
        local ty, description = split_type(tail)
        local optional = name:sub(-1) == "?"
        d.params[#d.params + 1] = {name = optional and name:sub(1, -2) or name, optional = optional,
          type = ty ~= "" and ty or "any", description = clean_description(description)}
      end
    elseif tag == "return" then
      local ty, description = split_type(rest)
      d.returns[#d.returns + 1] = {type = ty, description = clean_description(description)}
    elseif tag == "field" then
      local name, tail = rest:match("^(%S+)%s*(.*)$")
      if name then
        local ty, description = split_type(tail)
        d.fields[#d.fields + 1] = {name = name, type = ty, description = clean_description(description)}
      end
    elseif tag == "see" then
      d.see[#d.see + 1] = rest
    elseif tag == "deprecated" then
      d.deprecated = true
    elseif tag == nil then
      d.text[#d.text + 1] = (body:gsub("^ ", ""))
    end
  end
  while d.text[1] and d.text[1]:match("^%s*$") do table.remove(d.text, 1) end
  while #d.text > 0 and d.text[#d.text]:match("^%s*$") do table.remove(d.text) end
  return d
end

-- The first sentence of a block (at most one line's worth): what a listing shows.
local function summary(block)
  local words = {}
  for _, line in ipairs(parse_block(block or {}).text) do
    local s = line:match("^%s*(.-)%s*$")
    if s == "" then break end
    words[#words + 1] = s
  end
  local text = table.concat(words, " ")
  local sentence = text:match("^(.-[%.!?])%s") or text
  if #sentence > 100 then sentence = sentence:sub(1, 97):gsub("%s+%S*$", "") .. " ..." end
  return sentence
end

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do keywords[w] = true end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

---------------------------------------------------------------------------
-- The docs of the functions written in Swift (moonport.native_docs.lua)
---------------------------------------------------------------------------

local native_cache

local function split_params(list)
  local params = {}
  for p in list:gmatch("[^,]+") do
    p = p:match("^%s*(.-)%s*$")
    if p ~= "" then params[#params + 1] = p end
  end
  return params
end

-- qualified name ("json.encode") -> {block=, source=, line=, params=}
local function native_docs()
  if native_cache then return native_cache end
  native_cache = {}
  local source = module_source("moonport.native_docs")
  local lines = source_lines(source)
  for i, line in ipairs(lines or {}) do
    local qname, params = line:match("^%s*function%s+([%w_%.:]+)%s*%(([^)]*)%)")
    if qname then
      native_cache[qname] = {block = block_above(lines, i), source = source, line = i, params = split_params(params)}
    end
  end
  return native_cache
end

---------------------------------------------------------------------------
-- Walking the runtime
---------------------------------------------------------------------------

local function lua_type(v)
  local t = type(v)
  if t == "number" then return math.type(v) == "integer" and "integer" or "number" end
  return t
end

local function is_class(v) return type(v) == "table" and rawget(v, "__index") == v end

local function public(k) return is_identifier(k) and k:sub(1, 1) ~= "_" end

local function has_functions(t)
  for k, v in pairs(t) do
    if public(k) and type(v) == "function" then return true end
  end
  return false
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do if public(k) then keys[#keys + 1] = k end end
  table.sort(keys)
  return keys
end

-- The parameter names of a Lua function (its own, from the debug info).
local function own_params(f)
  local info = debug.getinfo(f, "u")
  if info.nparams == nil then return nil end
  if debug.getinfo(f, "S").what ~= "Lua" then return nil end
  local names = {}
  for i = 1, info.nparams do names[#names + 1] = debug.getlocal(f, i) end
  if info.isvararg then names[#names + 1] = "..." end
  return names
end

-- The doc block above the line of `lines` that assigns `name`, for a
-- function that has no doc where it is defined (a Swift function, or one
-- made elsewhere: `csv.write = records.write_function(native)`): an
-- `X.name = ...` line (owners in `preferred` first) or a `name = value,`
-- line of a table constructor. `function X.name(` lines are not looked at:
-- the function they define has its doc above them.
local function find_definition(lines, name, preferred)
  if not is_identifier(name) then return nil end
  local best
  for i, line in ipairs(lines) do
    local owner = line:match("^%s*([%w_%.]+)%." .. name .. "%s*=[^=]")
    local field = not owner and line:match("^%s*" .. name .. "%s*=%s*[%w_%.]+%s*,?%s*$")
    if owner or field then
      local block = block_above(lines, i)
      if has_text(block) then
        if owner and preferred[owner] then return block, i end
        best = best or {block, i}
      end
    end
  end
  if best then return best[1], best[2] end
  return nil
end

local resolve

-- The Client method a module-level shortcut calls ({fn=, qname=}), for the
-- shortcuts made by moonport.vendor's `_expose`: they take its doc.
local function shortcut_target(fn, node)
  local vendor = package.loaded["moonport.vendor"]
  local name = vendor and vendor.shortcut_of and vendor.shortcut_of[fn]
  local class = node.kind == "module" and rawget(node.value, "Client")
  if not name or type(class) ~= "table" or type(class[name]) ~= "function" then return nil end
  return {fn = class[name], name = name, method = true, qname = node.name .. ".Client:" .. name,
    owner = {name = node.name .. ".Client", module = node.module, kind = "class", value = class}}
end

-- Where the doc of a function comes from: {block=, source=, line=, fn=,
-- params= (names), via= (qualified name whose doc it is)}; nil when none.
function resolve(entry)
  local f = entry.fn
  local native = native_docs()[entry.qname]
  if native and has_text(native.block) then return native end
  local info = debug.getinfo(f, "S")
  if info.what == "Lua" and info.linedefined > 0 then
    local lines = source_lines(info.source)
    if lines then
      local block = block_above(lines, info.linedefined)
      if has_text(block) then return {block = block, source = info.source, line = info.linedefined, fn = f} end
    end
  end
  if entry.calls then
    local d = resolve(entry.calls)
    if d then return setmetatable({via = entry.calls.qname}, {__index = d}) end
  end
  local owner = entry.owner
  local source = module_source(owner.module)
  local lines = source_lines(source)
  if lines then
    local short = owner.name:match("([%w_]+)$")
    local block, line = find_definition(lines, entry.name, {[owner.name] = true, [short] = true, M = true})
    if block then return {block = block, source = source, line = line, fn = f} end
  end
  return nil
end

-- The parameter names a stub and a signature show.
local function params_of(entry, d)
  local names = {}
  local parsed = d and parse_block(d.block)
  if parsed and #parsed.params > 0 then
    for _, p in ipairs(parsed.params) do names[#names + 1] = p.name end
  elseif d and d.params then
    for _, p in ipairs(d.params) do names[#names + 1] = p end
  else
    names = own_params(d and d.fn or (entry.calls and entry.calls.fn) or entry.fn) or {"..."}
  end
  -- A method's self is implicit; a shortcut passes the default client as self.
  local shown = {}
  for i, n in ipairs(names) do
    local self_param = n == "self" and i == 1 and (entry.method or entry.calls)
    if not self_param and (is_identifier(n) or n == "...") then shown[#shown + 1] = n end
  end
  return shown
end

local function new_node(name, kind, module, value, class)
  return {name = name, kind = kind, module = module, value = value, class = class or name,
    functions = {}, fields = {}, children = {}}
end

local function add_function(node, key, fn, method)
  local entry = {fn = fn, name = key, method = method, owner = node,
    qname = node.name .. (method and ":" or ".") .. key}
  if not method then entry.calls = shortcut_target(fn, node) end
  entry.doc = resolve(entry)
  entry.params = params_of(entry, entry.doc)
  node.functions[#node.functions + 1] = entry
  return entry
end

-- The `---@class NAME` block in the source of `module`, whose NAME matches
-- one of `names`: {block=, class=} or nil.
local function class_block(module, names)
  local lines = source_lines(module_source(module))
  for i, line in ipairs(lines or {}) do
    local name = line:match("^%s*%-%-%-%s*@class%s+([%w_%.]+)")
    if name and names[name] then
      local last = i
      while is_doc_line(lines[last + 1]) do last = last + 1 end
      local block = block_above(lines, last + 1)
      return {block = block, class = name}
    end
  end
  return nil
end

-- The doc of a non-function field (`clari.max_ingest_records = 100`): its summary.
local function field_summary(node, key)
  local lines = source_lines(module_source(node.module))
  if not lines then return "" end
  local short = node.name:match("([%w_]+)$")
  local block = find_definition(lines, key, {[node.name] = true, [short] = true})
  return block and summary(block) or ""
end

local walk_table

local function walk_class(parent, key, value, index)
  local name = parent.name .. "." .. key
  local found = class_block(parent.module, {[name] = true})
  local node = new_node(name, "class", parent.module, value, found and found.class)
  node.class_block = found and found.block
  index.by_value[value] = node
  for _, k in ipairs(sorted_keys(value)) do
    if type(value[k]) == "function" then add_function(node, k, value[k], true) end
  end
  return node
end

function walk_table(node, t, index)
  for _, k in ipairs(sorted_keys(t)) do
    local v = t[k]
    if type(v) == "function" then
      add_function(node, k, v, false)
    elseif is_class(v) and not index.by_value[v] then
      node.children[#node.children + 1] = walk_class(node, k, v, index)
    elseif type(v) == "table" and not index.by_value[v] and has_functions(v) then
      local child = new_node(node.name .. "." .. k, "table", node.module, v)
      child.class_block = (class_block(node.module, {[child.name] = true}) or {}).block
      index.by_value[v] = child
      walk_table(child, v, index)
      node.children[#node.children + 1] = child
    else
      node.fields[#node.fields + 1] = {name = k, type = lua_type(v), description = field_summary(node, k)}
    end
  end
end

-- The methods written for `var` in a source (`function Response:json()`),
-- as entries of `node` that only the text knows.
local function text_methods(node, lines, source, var)
  for i, line in ipairs(lines) do
    local sep, name, params = line:match("^%s*function%s+" .. var .. "([:.])([%a_][%w_]*)%s*%(([^)]*)%)")
    if name and public(name) then
      local block = block_above(lines, i)
      node.functions[#node.functions + 1] = {name = name, method = sep == ":", owner = node,
        qname = node.name .. sep .. name, params = split_params(params),
        doc = has_text(block) and {block = block, source = source, line = i} or nil}
    end
  end
end

-- The `---@class` blocks of the stdlib sources whose class no module
-- exposes (http.Response, csv.Writer, moonport.Error, moonport.Client):
-- nodes kept apart from the walk (their methods are read from the text),
-- each in the meta file of the module its name starts with ("moonport"
-- when none). Returns {[module name] = {node...}}.
local function text_classes(idx, known)
  local by_module, modules = {}, {}
  local sources = {"moonport.native_docs", "moonport.vendor"}
  for _, node in ipairs(idx.modules) do
    sources[#sources + 1] = node.name
    modules[node.name] = true
  end
  for _, module in ipairs(sources) do
    local source = module_source(module)
    local lines = source_lines(source) or {}
    for i, line in ipairs(lines) do
      local name = line:match("^%s*%-%-%-%s*@class%s+([%w_%.]+)")
      if name and not known[name] then
        known[name] = true
        local last = i
        while is_doc_line(lines[last + 1]) do last = last + 1 end
        local node = new_node(name, "class", module, nil, name)
        node.class_block = block_above(lines, last + 1)
        node.var = name:gsub("%.", "_")
        local var = (lines[last + 1] or ""):match("^%s*local%s+([%a_][%w_]*)%s*=")
        if var then text_methods(node, lines, source, var) end
        local home = name:match("^(.*)%.[^.]+$")
        if not modules[home] then home = "moonport" end
        by_module[home] = by_module[home] or {}
        table.insert(by_module[home], node)
      end
    end
  end
  return by_module
end

local cached_index

-- Every public module, class and function: {modules = {node...},
-- classes = {node...} (classes that no module holds: Job), by_value =
-- {[table] = node}, by_function = {[fn] = entry}, by_name = {[name] = node|entry}}.
local function index()
  if cached_index then return cached_index end
  local idx = {modules = {}, classes = {}, by_value = {}, by_function = {}, by_name = {}}
  local values = {}
  for _, name in ipairs(doc.modules) do
    if package.preload[name] or package.loaded[name] then
      local ok, value = pcall(require, name)
      if ok and type(value) == "table" then
        values[name] = value
        idx.by_value[value] = true  -- a module held by another is documented in its own file
      end
    end
  end
  for _, name in ipairs(doc.modules) do
    local value = values[name]
    if value then
      local node = new_node(name, "module", name, value)
      node.block = leading_block(source_lines(module_source(name)) or {})
      idx.by_value[value] = node
      walk_table(node, value, idx)
      idx.modules[#idx.modules + 1] = node
    end
  end
  local ok, vendor = pcall(require, "moonport.vendor")
  if ok and is_class(vendor.Job) then
    local found = class_block("moonport.vendor", {["moonport.Job"] = true, Job = true})
    local node = new_node("Job", "class", "moonport.vendor", vendor.Job, found and found.class or "moonport.Job")
    node.class_block = found and found.block
    idx.by_value[vendor.Job] = node
    for _, k in ipairs(sorted_keys(vendor.Job)) do
      if type(vendor.Job[k]) == "function" then add_function(node, k, vendor.Job[k], true) end
    end
    idx.classes[#idx.classes + 1] = node
  end
  local known = {}
  local function register(node)
    idx.by_name[node.name] = node
    known[node.class] = true
    if node.class ~= node.name then idx.by_name[node.class] = idx.by_name[node.class] or node end
    for _, e in ipairs(node.functions) do
      if e.fn then idx.by_function[e.fn] = idx.by_function[e.fn] or e end
      idx.by_name[e.qname] = e
      if e.method then idx.by_name[node.name .. "." .. e.name] = idx.by_name[node.name .. "." .. e.name] or e end
    end
    for _, child in ipairs(node.children) do register(child) end
  end
  for _, node in ipairs(idx.modules) do register(node) end
  for _, node in ipairs(idx.classes) do register(node) end
  idx.text_classes = text_classes(idx, known)
  for _, nodes in pairs(idx.text_classes) do
    for _, node in ipairs(nodes) do register(node) end
  end
  cached_index = idx
  return idx
end

-- Every function entry, modules first, in listing order.
local function each_entry(fn)
  local function visit(node)
    for _, e in ipairs(node.functions) do fn(e) end
    for _, child in ipairs(node.children) do visit(child) end
  end
  local idx = index()
  for _, node in ipairs(idx.modules) do visit(node) end
  for _, node in ipairs(idx.classes) do visit(node) end
end

--- The qualified names of the functions the public modules expose (module
--- functions, nested tables, Client and Job methods) that have no doc
--- block, sorted. Empty when the types and help() cover the whole runtime.
---@return string[]
function doc.missing()
  local names = {}
  each_entry(function(e) if not e.doc then names[#names + 1] = e.qname end end)
  table.sort(names)
  return names
end

---------------------------------------------------------------------------
-- LuaLS ---@meta files
---------------------------------------------------------------------------

local generated_note = "-- Generated by `moonport types` from the doc comments of moonport's stdlib: do not edit, run it again."

local function emit_function(out, prefix, entry)
  if entry.doc then
    for _, line in ipairs(entry.doc.block) do out[#out + 1] = line end
  end
  out[#out + 1] = string.format("function %s%s%s(%s) end", prefix, entry.method and ":" or ".", entry.name,
    table.concat(entry.params, ", "))
  out[#out + 1] = ""
end

local function emit_fields(out, node)
  for _, field in ipairs(node.fields) do
    out[#out + 1] = string.format("---@field %s %s%s", field.name, field.type,
      field.description ~= "" and (" " .. field.description) or "")
  end
end

local function emit_class_header(out, node)
  if node.class_block then
    for _, line in ipairs(node.class_block) do out[#out + 1] = line end
  else
    out[#out + 1] = "---@class " .. node.class
  end
end

local function emit_children(out, node)
  for _, child in ipairs(node.children) do
    emit_class_header(out, child)
    emit_fields(out, child)
    out[#out + 1] = child.name .. " = {}"
    out[#out + 1] = ""
    for _, e in ipairs(child.functions) do emit_function(out, child.name, e) end
    emit_children(out, child)
  end
end

local function node_named(name)
  local node = index().by_name[name]
  if type(node) ~= "table" or node.functions == nil then return nil end
  return node
end

--- The text of the LuaLS `---@meta` file of a module ("clari"), or of a
--- class that no module holds ("Job"): the module's description, a
--- `---@class` with its fields, each function's doc block above a stub
--- `function clari.export(kind, params) end`, its classes and nested
--- tables, `return clari`. Raises when there is no such module.
---@param name string  a module name, or "Job"
---@return string
function doc.meta(name)
  local node = node_named(name)
  if not node or (node.kind ~= "module" and name ~= "Job") then
    error(string.format("moonport.doc.meta: no built-in module '%s'", tostring(name)), 2)
  end
  local out = {}
  if node.kind == "module" then
    out[#out + 1] = "---@meta " .. node.name
    out[#out + 1] = generated_note
    out[#out + 1] = ""
    for _, line in ipairs(node.block or {}) do out[#out + 1] = line end
    out[#out + 1] = "---@class " .. node.class
    emit_fields(out, node)
    out[#out + 1] = "local " .. node.name .. " = {}"
    out[#out + 1] = ""
    for _, e in ipairs(node.functions) do emit_function(out, node.name, e) end
    emit_children(out, node)
    for _, class in ipairs(index().text_classes[node.name] or {}) do
      emit_class_header(out, class)
      out[#out + 1] = "local " .. class.var .. " = {}"
      out[#out + 1] = ""
      for _, e in ipairs(class.functions) do emit_function(out, class.var, e) end
    end
    out[#out + 1] = "return " .. node.name
  else
    out[#out + 1] = "---@meta _"
    out[#out + 1] = generated_note
    out[#out + 1] = ""
    emit_class_header(out, node)
    emit_fields(out, node)
    out[#out + 1] = "local " .. node.name .. " = {}"
    out[#out + 1] = ""
    for _, e in ipairs(node.functions) do emit_function(out, node.name, e) end
  end
  return table.concat(out, "\n") .. "\n"
end

-- The file name of a meta file ("clari.lua"; a class: its LuaLS name).
local function meta_file(node)
  return (node.kind == "module" and node.name or node.class) .. ".lua"
end

local function write_file(path, text)
  local f, why = io.open(path, "wb")
  if not f then error(string.format("moonport types: cannot write %s (%s)", path, tostring(why)), 0) end
  f:write(text)
  f:close()
end

--- Writes the `---@meta` file of every public module (and of the Job
--- class) into `dir`, which must exist, and an example `.luarc.json` for
--- the LuaLS language server (workspace.library = {dir}, Lua 5.4): copy it
--- to the root of the scripts' folder. Returns the paths written.
---@param dir string
---@param library? string  the folder .luarc.json names (default dir; `moonport types` gives it absolute, so the example still works once copied)
---@return string[]
function doc.write(dir, library)
  if #dir > 1 then dir = dir:gsub("/+$", "") end
  local written = {}
  local idx = index()
  local function put(file, text)
    local path = dir .. "/" .. file
    write_file(path, text)
    written[#written + 1] = path
  end
  for _, node in ipairs(idx.modules) do put(meta_file(node), doc.meta(node.name)) end
  for _, node in ipairs(idx.classes) do put(meta_file(node), doc.meta(node.name)) end
  local json = require "json"
  put(".luarc.json", json.encode({
    ["$schema"] = "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
    runtime = {version = "Lua 5.4"},
    workspace = {library = json.array({library or dir}), checkThirdParty = false},
  }, {pretty = true, sort_keys = true}) .. "\n")
  return written
end

---------------------------------------------------------------------------
-- help()
---------------------------------------------------------------------------

local function short_source(source, line)
  if not source then return nil end
  return source:gsub("^@", "") .. (line and (":" .. line) or "")
end

local function signature(entry)
  local prefix = entry.owner.name .. (entry.method and ":" or ".")
  local parsed = entry.doc and parse_block(entry.doc.block)
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
  local d = parse_block(block)
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
  local where = d.source and not d.source:find("native_docs", 1, true) and short_source(d.source, d.line)
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
  if block and #block > 0 then
    out[#out + 1] = ""
    render_block(out, block)
  end
  local rows = {}
  local function list(n)
    for _, e in ipairs(n.functions) do
      local s = e.doc and summary(e.doc.block) or "(no documentation)"
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
  local lines = source_lines(info.source)
  local block = lines and info.linedefined > 0 and block_above(lines, info.linedefined)
  out[#out + 1] = ""
  if block and has_text(block) then render_block(out, block) else out[#out + 1] = "(no documentation)" end
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
function doc.help(...)
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
function doc.print_help(...)
  local text = doc.help(...)
  local ok, activity = pcall(require, "moonport.activity")
  local width = ok and activity.columns() or 0
  if width >= 20 and type(text) == "string" then text = doc.wrap(text, width) end
  print(text)
end

--- Wraps each line of `text` longer than `width` at word boundaries; the
--- continuation keeps the line's indentation (plus two spaces).
function doc.wrap(text, width)
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

return doc
