--- moonport.doc: help() and `moonport types`, from the index of the doc
--- comments that the build makes (DocIndex, run by the EmbedStdlib plugin):
--- a function's doc is the block of `---` lines right above its `function`
--- line (stdlib/README.md); the functions written in Swift have theirs in
--- the `---@meta` stubs of stdlib/_meta/, matched by qualified name. No
--- doc comment is parsed here: this module walks the modules as the runtime
--- builds them and finds each function's entry in the index;
--- moonport.doc.help writes help()'s text of it, moonport.doc.types the
--- LuaLS files (both loaded at their first use).
---
---   local doc = require "moonport.doc"
---   print(doc.help(require("clari").export))
---   doc.write("moonport-types")   --> the list of files written
---   doc.missing()                 --> exposed functions that have no doc
---
--- Nothing here is hand-listed per function, so a function added without a
--- doc shows up in doc.missing() (and fails TypesTests).
local stdlib = require "moonport.stdlib"
local args = require "moonport.args"

local doc = {}

--- The public modules, in the order help() and `moonport types` list them
--- (the last four only when this build has them).
doc.modules = {"json", "http", "csv", "ndjson", "log", "task", "state", "moonport",
  "clari", "claravine", "quantive", "cordial", "mediarithmics", "batch", "workflow", "dates", "reconcile"}

---------------------------------------------------------------------------
-- The index (built with the binary; loaded at the first help() or types)
---------------------------------------------------------------------------

-- A block the index has no entry for (no `---` lines above that line).
local empty_list = setmetatable({}, {__newindex = function() args.raise("usage", "moonport.doc: the index is read-only") end})
local EMPTY = {lines = empty_list, has_text = false, summary = ""}
local block_defaults = {__index = {text = empty_list, params = empty_list, returns = empty_list,
  fields = empty_list, see = empty_list, deprecated = false, has_text = false, summary = ""}}

local function prepare(file)
  for _, block in pairs(file.blocks) do setmetatable(block, block_defaults) end
  return file
end

local function load_chunk(text)
  return assert(load(text, "=(moonport doc index)", "t", {}))()
end

local loaded_index

-- {files = {[module] = file}, meta = {file...}} (DocIndex.swift says what a file holds).
local function docs()
  if loaded_index then return loaded_index end
  loaded_index = load_chunk(stdlib.index())
  for _, file in pairs(loaded_index.files) do prepare(file) end
  for _, file in ipairs(loaded_index.meta) do prepare(file) end
  return loaded_index
end

local script_files = {}

-- The index entry of a chunk as debug.getinfo names it: "@stdlib/NAME.lua"
-- is the stdlib module NAME; "@PATH" a file on disk (a script's, indexed
-- when first asked). nil when there is none (a chunk of the REPL).
local function file_of(source)
  local name = source:match("^@stdlib/(.+)%.lua$")
  if name then return docs().files[name] end
  if source:sub(1, 1) ~= "@" then return nil end
  local cached = script_files[source]
  if cached == nil then
    local text = stdlib.file(source:sub(2))
    cached = text and prepare(load_chunk(text)) or false
    script_files[source] = cached
  end
  return cached or nil
end

local function module_source(name) return "@stdlib/" .. name .. ".lua" end

-- The doc block right above line n of a file (EMPTY when there is none).
local function block_at(file, n)
  return file and file.blocks[n] or EMPTY
end

-- The block that starts a file (the module's description).
local function leading_block(file)
  return file and file.lead and file.blocks[file.lead] or EMPTY
end

local keywords = {}
for w in ([[and break do else elseif end false for function goto if in local nil not or
  repeat return then true until while]]):gmatch("%a+") do keywords[w] = true end

local function is_identifier(s)
  return type(s) == "string" and s:match("^[%a_][%w_]*$") ~= nil and not keywords[s]
end

---------------------------------------------------------------------------
-- The docs of the functions written in Swift (stdlib/_meta/*.lua)
---------------------------------------------------------------------------

local native_cache

-- qualified name ("json.encode") -> {block=, source=, line=, params=}
local function meta_docs()
  if native_cache then return native_cache end
  native_cache = {}
  for _, file in ipairs(docs().meta) do
    local source = module_source("_meta/" .. file.name)
    for _, f in ipairs(file.functions) do
      native_cache[f.qname] = {block = block_at(file, f.at), source = source, line = f.at, params = f.params}
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

-- The doc block above the line of a file that assigns `name`, and the
-- line, for a function that has no doc where it is defined (a Swift
-- function, or one made elsewhere: `M.f = make_function(...)`):
-- an `X.name = ...` line (owners in `preferred` first) or a `name = value,`
-- line of a table constructor (the index's `defs`). `function X.name(`
-- lines are not among them: the function they define has its doc above them.
local function find_definition(file, name, preferred)
  if not file or not is_identifier(name) then return nil end
  local best
  for _, def in ipairs(file.defs) do
    if def.name == name then
      local block = block_at(file, def.at)
      if def.owner and preferred[def.owner] then return block, def.at end
      best = best or {block, def.at}
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
  local native = meta_docs()[entry.qname]
  if native and native.block.has_text then return native end
  local info = debug.getinfo(f, "S")
  if info.what == "Lua" and info.linedefined > 0 then
    local block = block_at(file_of(info.source), info.linedefined)
    if block.has_text then return {block = block, source = info.source, line = info.linedefined, fn = f} end
  end
  if entry.calls then
    local d = resolve(entry.calls)
    if d then return setmetatable({via = entry.calls.qname}, {__index = d}) end
  end
  local owner = entry.owner
  local source = module_source(owner.module)
  local short = owner.name:match("([%w_]+)$")
  local block, line = find_definition(docs().files[owner.module], entry.name,
    {[owner.name] = true, [short] = true, M = true})
  if block then return {block = block, source = source, line = line, fn = f} end
  return nil
end

-- The parameter names a stub and a signature show.
local function params_of(entry, d)
  local names = {}
  local parsed = d and d.block
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
  local file = docs().files[module]
  for _, class in ipairs(file and file.classes or {}) do
    if names[class.name] then return {block = block_at(file, class.at), class = class.name} end
  end
  return nil
end

-- The stub file of a native module (stdlib/_meta/json.lua), or nil.
local function meta_of(module)
  for _, file in ipairs(docs().meta) do
    if file.name == module then return file end
  end
  return nil
end

-- The doc of a non-function field (`clari.max_ingest_records = 100`, or
-- `json.null` in its stub): its summary.
local function field_summary(node, key)
  local short = node.name:match("([%w_]+)$")
  local preferred = {[node.name] = true, [short] = true}
  local block = find_definition(docs().files[node.module], key, preferred)
    or find_definition(meta_of(node.module), key, preferred)
  return block and block.summary or ""
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

-- The methods written for a class's table `var` in a file (`function
-- Response:json()`), as entries of `node` that only the text knows.
local function text_methods(node, file, source, var)
  for _, f in ipairs(file.functions) do
    local sep, name = f.qname:sub(#var + 1, #var + 1), f.qname:sub(#var + 2)
    if f.qname:sub(1, #var) == var and (sep == ":" or sep == ".") and name:match("^[%a_][%w_]*$") and public(name) then
      local block = block_at(file, f.at)
      node.functions[#node.functions + 1] = {name = name, method = sep == ":", owner = node,
        qname = node.name .. sep .. name, params = f.params,
        doc = block.has_text and {block = block, source = source, line = f.at} or nil}
    end
  end
end

-- The stdlib's own files (moonport.*), sorted: where the classes of no
-- module (moonport.Job, moonport.Client) are written.
local function internal_files()
  local names = {}
  for name in pairs(docs().files) do
    if name:match("^moonport%.") then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

-- The `---@class` blocks of the stdlib sources whose class no module
-- exposes (http.Response, csv.Writer, moonport.Error, moonport.Client):
-- nodes kept apart from the walk (their methods are read from the text),
-- each in the meta file of the module its name starts with ("moonport"
-- when none). Returns {[module name] = {node...}}.
local function text_classes(idx, known)
  local by_module, modules = {}, {}
  local files = {}
  for _, file in ipairs(docs().meta) do files[#files + 1] = {file, "_meta/" .. file.name} end
  for _, name in ipairs(internal_files()) do files[#files + 1] = {docs().files[name], name} end
  for _, node in ipairs(idx.modules) do
    files[#files + 1] = {docs().files[node.name], node.name}
    modules[node.name] = true
  end
  for _, pair in ipairs(files) do
    local file, module = pair[1], pair[2]
    local source = module_source(module)
    for _, class in ipairs(file and file.classes or {}) do
      local name = class.name
      if not known[name] then
        known[name] = true
        local node = new_node(name, "class", module, nil, name)
        node.class_block = block_at(file, class.at)
        node.var = name:gsub("%.", "_")
        if class.var then
          text_methods(node, file, source, class.var)
          -- A class of the stdlib's own files may get methods in another of them
          -- (moonport.Client's job and poll, beside the Job).
          if module:match("^moonport%.") then
            for _, other in ipairs(internal_files()) do
              if other ~= module then text_methods(node, docs().files[other], module_source(other), class.var) end
            end
          end
        end
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
      node.block = leading_block(docs().files[name])
      idx.by_value[value] = node
      walk_table(node, value, idx)
      idx.modules[#idx.modules + 1] = node
    end
  end
  local ok, vendor = pcall(require, "moonport.vendor")
  if ok and is_class(vendor.Job) then
    -- The file that announces moonport.Job: moonport.vendor, or another of its own.
    local found, home = class_block("moonport.vendor", {["moonport.Job"] = true, Job = true}), "moonport.vendor"
    for _, name in ipairs(internal_files()) do
      if found then break end
      found, home = class_block(name, {["moonport.Job"] = true, Job = true}), name
    end
    if not found then home = "moonport.vendor" end
    local node = new_node("Job", "class", home, vendor.Job, found and found.class or "moonport.Job")
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
-- For the presentation modules (moonport.doc.help, moonport.doc.types)
---------------------------------------------------------------------------

-- The walk above: {modules=, classes=, by_value=, by_function=, by_name=, text_classes=}.
doc.index = index
-- The index entry of a chunk ("@stdlib/clari.lua", "@script.lua") and the block above one of its lines.
doc.file_of = file_of
doc.block_at = block_at
doc.own_params = own_params

--- Writes the LuaLS `---@meta` files of the public modules into `dir`
--- (moonport.doc.types): `moonport types`.
function doc.write(...) return require("moonport.doc.types").write(...) end

--- The text of the `---@meta` file of one module (moonport.doc.types).
function doc.meta(...) return require("moonport.doc.types").meta(...) end

--- The documentation of a value, as text (moonport.doc.help): help().
function doc.help(...) return require("moonport.doc.help").help(...) end

--- The REPL's global `help`: prints doc.help(...).
function doc.print_help(...) return require("moonport.doc.help").print_help(...) end

--- Wraps each line of `text` longer than `width` at word boundaries.
function doc.wrap(...) return require("moonport.doc.help").wrap(...) end

return doc
