--- state: what a run has done, kept in a SQLite database (--state PATH,
--- default .moonport/state.sqlite), so that a rerun after a crash resumes
--- instead of starting over.
---
---   local job = state.once("export forecast 2024_Q1", function()
---     return clari.export("forecast", {...})   -- runs only the first time
---   end)
---   state.set("last_cursor", "abc"); state.get("last_cursor") --> "abc"
---
--- Values are stored as JSON (tables, strings, numbers, booleans, json.null);
--- a value is durable (fsynced) when the call returns. Tables whose metatable
--- is registered with state.register_class(name, {dump=, load=}) are stored
--- through `dump` and come back through `load` (vendor Jobs come back alive).
local native = require "moonport.state"
local json = require "json"
local moonport = require "moonport"
local task = require "moonport.task"
local context = require "moonport.context"

local state = {}

local function fail(fname, message)
  error(moonport.error("validation", "state." .. fname .. ": " .. message, nil, 3), 0)
end

local function check_key(fname, key)
  if type(key) ~= "string" or key == "" then
    fail(fname, "argument #1 (key) must be a non-empty string, got " .. (key == "" and "an empty string" or type(key)))
  end
end

-- Classes by metatable and by name: {name=, dump=, load=}.
local by_meta, by_name = {}, {}

--- Lets values with metatable `mt` be stored: dump(obj) -> plain value;
--- load(plain) -> obj. `name` is what the database records.
function state.register_class(name, mt, handlers)
  if type(name) ~= "string" or type(mt) ~= "table" or type(handlers) ~= "table"
    or type(handlers.dump) ~= "function" or type(handlers.load) ~= "function" then
    fail("register_class", "usage: state.register_class(name, metatable, {dump = fn, load = fn})")
  end
  local class = {name = name, dump = handlers.dump, load = handlers.load}
  by_meta[mt], by_name[name] = class, class
end

-- Plain copy of v for JSON: registered objects become {["$class"] = name, data = dump(obj)}.
local function dump(v, seen)
  if type(v) ~= "table" then return v end
  local class = by_meta[getmetatable(v) or false]
  if class then return {["$class"] = class.name, data = dump(class.dump(v), seen)} end
  if seen[v] then fail("set", "the value contains a cycle") end
  seen[v] = true
  local out = {}
  for k, x in pairs(v) do out[k] = dump(x, seen) end
  seen[v] = nil
  -- Keep the [] / {} mark of json.array, json.object and decoded tables.
  local mt = getmetatable(v)
  local mark = type(mt) == "table" and rawget(mt, "__jsontype")
  if mark == "array" then return json.array(out) end
  if mark == "object" then return json.object(out) end
  return out
end

local function load(v)
  if type(v) ~= "table" then return v end
  local name = rawget(v, "$class")
  if type(name) == "string" then
    local class = by_name[name]
    if not class then
      error(moonport.error("usage", "state: a stored value is a '" .. name .. "', and no module loaded so far knows how to "
        .. "bring it back (require the module that made it first)", nil, 3), 0)
    end
    return class.load(load(v.data))
  end
  for k, x in pairs(v) do v[k] = load(x) end
  return v
end

local function encode(fname, value)
  local ok, text = pcall(json.encode, dump(value, {}))
  if not ok then
    fail(fname, "the value cannot be stored as JSON: " .. (type(text) == "table" and text.message or tostring(text)))
  end
  return text
end

--- The value stored under key, or nil.
function state.get(key)
  check_key("get", key)
  local text = native.get("v:" .. key)
  if text == nil then return nil end
  return load(json.decode(text))
end

--- Stores value under key (nil deletes it).
function state.set(key, value)
  check_key("set", key)
  if value == nil then
    native.delete("v:" .. key)
  else
    native.set("v:" .. key, encode("set", value))
  end
end

--- Forgets key; returns whether it was there.
function state.delete(key)
  check_key("delete", key)
  return native.delete("v:" .. key)
end

--- The keys set with state.set (that start with prefix), sorted.
function state.keys(prefix)
  if prefix ~= nil and type(prefix) ~= "string" then fail("keys", "argument #1 (prefix) must be a string") end
  local out = native.keys("v:" .. (prefix or ""))
  for i, k in ipairs(out) do out[i] = k:sub(3) end
  return out
end

local running = {}

--- fn's results, run only the first time key is seen in this database;
--- later calls (in this run or a rerun) get the stored results back. If fn
--- raises, nothing is stored and the next call runs it again. A second
--- call with the same key while the first runs waits for it.
function state.once(key, fn)
  check_key("once", key)
  if type(fn) ~= "function" then fail("once", "argument #2 (fn) must be a function, got " .. type(fn)) end
  local id = "once:" .. key
  local me = coroutine.running()
  if running[key] == me then
    error(moonport.error("usage", "state.once: '" .. key .. "' was asked for again from inside its own fn "
      .. "(it would wait for itself for ever)", nil, 2), 0)
  end
  while running[key] do task.sleep(0.02) end
  local text = native.get(id)
  if text ~= nil then
    local stored = load(json.decode(text))
    for i = 1, stored.n do
      if stored.values[i] == json.null then stored.values[i] = nil end
    end
    return table.unpack(stored.values, 1, stored.n)
  end
  running[key] = me
  local done <close> = setmetatable({}, {__close = function() running[key] = nil end})
  -- What vendor bindings create inside fn (and the tasks it spawns) is
  -- journaled under this key: a rerun after a crash adopts it.
  local results = table.pack(context.with({once = key, counts = {}}, fn))
  local values = {}
  for i = 1, results.n do values[i] = results[i] == nil and json.null or results[i] end
  native.set(id, encode("once", {n = results.n, values = json.array(values)}))
  native.delete_prefix(state._journal_prefix(key))
  return table.unpack(results, 1, results.n)
end

--- Forgets what state.once stored for key (the next call runs fn again).
function state.forget(key)
  check_key("forget", key)
  native.delete_prefix(state._journal_prefix(key))
  return native.delete("once:" .. key)
end

-- The journal of state.once: what a binding was creating inside fn
-- (moonport.vendor writes it). "j:" .. once key .. "\31" .. what.
function state._journal_prefix(key) return "j:" .. key .. "\31" end

--- The journal entry `what` of the running once (nil outside state.once,
--- or when nothing was recorded). Internal: for moonport.vendor.
function state._journal_get(ctx, what)
  local text = native.get(state._journal_prefix(ctx.once) .. what)
  return text and json.decode(text) or nil
end

function state._journal_set(ctx, what, record)
  native.set(state._journal_prefix(ctx.once) .. what, encode("once", record))
end

--- Where the database is.
state.path = native.path

return state
