--- state: what a run has done, kept in a state store (--state PATH, a
--- SQLite database, default .moonport/state.sqlite; or --state
--- postgres://USER@HOST/DB, shared by workers on many machines), so that a
--- rerun after a crash resumes instead of starting over, on any worker.
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
---
--- Keys are namespaced: a script's keys are its own unless another script
--- uses the same namespace. The namespace is --namespace NAME (or
--- $MOONPORT_NAMESPACE), else the script's file name without its folder and
--- `.lua` (`nightly_export` for /jobs/nightly_export.lua, wherever it runs
--- from), else (-e, stdin, the REPL) the unnamed namespace.
local native = require "moonport.state"
local json = require "json"
local args = require "moonport.args"
local task = require "moonport.task"
local context = require "moonport.context"
local log = require "log"

local state = {}

-- The namespace of this run (see the header), found at first use.
local namespace_of_run
local function namespace()
  if namespace_of_run == nil then
    local ns = native.namespace() or os.getenv("MOONPORT_NAMESPACE")
    if ns == nil then
      local script = type(rawget(_G, "arg")) == "table" and rawget(_G, "arg")[0] or nil
      ns = type(script) == "string" and script ~= "-" and (script:match("([^/\\]+)$") or ""):gsub("%.lua$", "") or ""
    end
    namespace_of_run = ns
  end
  return namespace_of_run
end

-- The stored key of `rest` ("v:" .. key, "once:" .. key, ...): the
-- namespace and "\30" before it, except in the unnamed namespace.
local function K(rest)
  local ns = namespace()
  return ns == "" and rest or (ns .. "\30" .. rest)
end
local function strip(stored) return stored:sub(#K("") + 1) end

--- The namespace of this run's keys ("" for the unnamed one): --namespace
--- NAME, $MOONPORT_NAMESPACE, else the script's file name without `.lua`.
---@return string namespace
function state.namespace() return namespace() end

local function fail(fname, message)
  args.raise("validation", "state." .. fname .. ": " .. message)
end

local function check_key(fname, key)
  args.check("state." .. fname, "argument #1 (key)", key, "non-empty string")
end

-- Classes by metatable and by name: {name=, dump=, load=}.
local by_meta, by_name = {}, {}

--- Lets objects whose metatable is `mt` be stored by state.set and
--- state.once: they are stored as handlers.dump(obj) (a plain value) under
--- `name`, and come back as handlers.load(plain, origin), `origin` saying
--- where it was stored: {key=, kind = "once" | "set", path = the
--- database}. Vendor Jobs are
--- registered this way (as "moonport.Job"). Registering a name again
--- replaces its handlers.
--- Raises kind = "validation" for a bad argument.
---@param name string  the class's name, recorded in the database
---@param mt table     the metatable of the objects
---@param handlers {dump: fun(obj: any): any, load: fun(plain: any): any}
function state.register_class(name, mt, handlers)
  args.check("state.register_class", "argument #1 (name)", name, "string")
  args.check("state.register_class", "argument #2 (metatable)", mt, "table")
  args.check("state.register_class", "argument #3 (handlers)", handlers, "table")
  args.check("state.register_class", "handlers.dump", handlers.dump, "function")
  args.check("state.register_class", "handlers.load", handlers.load, "function")
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

-- `origin` ({key=, kind = "once" | "set", path=}) tells a class's `load`
-- where the value was stored (a Job names it when the vendor no longer has it).
local function load(v, origin)
  if type(v) ~= "table" then return v end
  local name = rawget(v, "$class")
  if type(name) == "string" then
    local class = by_name[name]
    if not class then
      args.raise("usage", "state: a stored value is a '" .. name .. "', and no module loaded so far knows how to "
        .. "bring it back (require the module that made it first)")
    end
    return class.load(load(v.data, origin), origin)
  end
  for k, x in pairs(v) do v[k] = load(x, origin) end
  return v
end

local function encode(fname, value)
  local ok, text = pcall(json.encode, dump(value, {}))
  if not ok then
    fail(fname, "the value cannot be stored as JSON: " .. (type(text) == "table" and text.message or tostring(text)))
  end
  return text
end

--- The value stored under `key` by state.set, or nil; registered objects
--- (Jobs) come back alive.
--- Raises kind = "validation" when `key` is not a non-empty string.
---@param key string
---@return any value  the stored value, or nil
function state.get(key)
  check_key("get", key)
  local text = native.get(K("v:" .. key))
  if text == nil then return nil end
  return load(json.decode(text), {key = key, kind = "set", path = native.path()})
end

--- Stores `value` under `key`, as JSON: tables (their [] / {} marks kept),
--- strings, numbers, booleans, json.null, and registered objects such as
--- Jobs; nil deletes the key. The value is durable (fsynced) when the call
--- returns; other tasks run while it waits for the disk.
--- Raises kind = "validation" for a bad key, or a value that cannot be
--- stored as JSON (a function, a cycle, ...).
---   state.set("last_cursor", cursor)
---@param key string  a non-empty string
---@param value any   the value, or nil to delete the key
function state.set(key, value)
  check_key("set", key)
  if value == nil then
    native.delete(K("v:" .. key))
  else
    native.set(K("v:" .. key), encode("set", value))
  end
end

--- Deletes what state.set stored under `key`; returns whether it was there.
--- Raises kind = "validation" when `key` is not a non-empty string.
---@param key string
---@return boolean existed
function state.delete(key)
  check_key("delete", key)
  return native.delete(K("v:" .. key))
end

--- The keys stored with state.set (only those that start with `prefix`,
--- when given), sorted. state.list() also lists the steps of state.once.
--- Raises kind = "validation" when `prefix` is not a string.
---@param prefix? string
---@return string[] keys
function state.keys(prefix)
  args.check("state.keys", "argument #1 (prefix)", prefix, "string", true)
  local out = native.keys(K("v:" .. (prefix or "")))
  for i, k in ipairs(out) do out[i] = strip(k):sub(3) end
  return out
end

--- Everything stored in this state database: what state.set stored and
--- the steps state.once has done, sorted by key (and "set" before "once"
--- for a key used by both), each as {key=, kind = "set" | "once",
--- stored_at = ISO-8601 time (UTC)}. Only the keys that start with
--- `prefix`, when given. `moonport state list` shows the same from the
--- command line; state.keys() lists the state.set keys alone.
--- Raises kind = "validation" when `prefix` is not a string.
---   for _, e in ipairs(state.list()) do print(e.kind, e.key, e.stored_at) end
---@param prefix? string
---@return {key: string, kind: "set"|"once", stored_at: string}[] entries
function state.list(prefix)
  args.check("state.list", "argument #1 (prefix)", prefix, "string", true)
  local out = {}
  for _, e in ipairs(native.entries(K("v:" .. (prefix or "")))) do
    out[#out + 1] = {key = strip(e.key):sub(3), kind = "set", stored_at = e.stored_at}
  end
  for _, e in ipairs(native.entries(K("once:" .. (prefix or "")))) do
    out[#out + 1] = {key = strip(e.key):sub(6), kind = "once", stored_at = e.stored_at}
  end
  table.sort(out, function(a, b)
    if a.key ~= b.key then return a.key < b.key end
    return a.kind == "set" and b.kind ~= "set"
  end)
  return out
end

local running = {}

--- fn's results, fn being run only the first time `key` is seen in this
--- state database: later calls, in this run or a rerun, get the stored
--- results back (Jobs come back alive, to be polled and downloaded again).
--- If fn raises, nothing is stored and the next call runs it again; what
--- vendor bindings created inside fn (and the tasks it spawns) before a
--- crash is journaled, and adopted on the rerun instead of being sent
--- again. A second call with the same key while the first runs waits for it,
--- in this run or in another run sharing the state store (another process,
--- or a worker on another machine with --state postgres://...), and gets
--- its results; a run that dies while performing a step releases it, and the
--- next one to reach it performs it (adopting what the dead one created).
--- Raises kind = "validation" for a bad key or fn, "usage" when fn asks for
--- its own key, and fn's error; kind = "validation" when the results cannot
--- be stored as JSON.
---   local job = state.once("export forecast 2024_Q1", function()
---     return clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1"})
---   end)
---@param key string  a non-empty string naming the step
---@param fn function  the step (called with no arguments), run at most once per key
---@return any ...  fn's results
function state.once(key, fn)
  check_key("once", key)
  args.check("state.once", "argument #2 (fn)", fn, "function")
  local id = K("once:" .. key)
  local me = coroutine.running()
  if running[key] == me then
    args.raise("usage", "state.once: '" .. key .. "' was asked for again from inside its own fn "
      .. "(it would wait for itself for ever)")
  end
  while running[key] do task.sleep(0.02) end
  local function stored()
    local text = native.get(id)
    if text == nil then return nil end
    local stored = load(json.decode(text), {key = key, kind = "once", path = native.path()})
    for i = 1, stored.n do
      if stored.values[i] == json.null then stored.values[i] = nil end
    end
    return stored
  end
  local done = stored()
  if done then return table.unpack(done.values, 1, done.n) end
  -- Claim the step among every run sharing the store (a lock tied to this
  -- process: it ends if the process dies); while another run performs it,
  -- wait for its results.
  running[key] = me
  local claim = "once\0" .. id
  local release <close> = setmetatable({}, {__close = function()
    running[key] = nil
    native.release(claim)
  end})
  local delay, waited = 0.02, 0
  while not native.claim(claim) do
    done = stored()
    if done then return table.unpack(done.values, 1, done.n) end
    if waited == 0 then
      log.info("state.once %q: another run is performing this step; waiting for it", key)
    end
    task.sleep(delay)
    waited = waited + delay
    delay = math.min(delay * 1.5, 0.5)
  end
  -- It may have finished between the look and the claim.
  done = stored()
  if done then return table.unpack(done.values, 1, done.n) end
  -- What vendor bindings create inside fn (and the tasks it spawns) is
  -- journaled under this key: a rerun after a crash adopts it.
  local results = table.pack(context.with({once = key, counts = {}}, fn))
  local values = {}
  for i = 1, results.n do values[i] = results[i] == nil and json.null or results[i] end
  native.complete(id, encode("once", {n = results.n, values = json.array(values)}), state._journal_prefix(key))
  return table.unpack(results, 1, results.n)
end

--- Forgets what state.once stored for `key` (and its journal): the next
--- state.once(key, fn) runs fn again. Returns whether there were results.
--- Raises kind = "validation" when `key` is not a non-empty string.
---@param key string
---@return boolean existed
function state.forget(key)
  check_key("forget", key)
  native.delete_prefix(state._journal_prefix(key))
  return native.delete(K("once:" .. key))
end

-- The journal of state.once: what a binding was creating inside fn
-- (moonport.vendor writes it). "j:" .. once key .. "\31" .. what, in the namespace.
function state._journal_prefix(key) return K("j:" .. key .. "\31") end

--- The journal entry `what` of the running once (nil outside state.once,
--- or when nothing was recorded). Internal: for moonport.vendor.
function state._journal_get(ctx, what)
  local text = native.get(state._journal_prefix(ctx.once) .. what)
  return text and json.decode(text) or nil
end

function state._journal_set(ctx, what, record)
  native.set(state._journal_prefix(ctx.once) .. what, encode("once", record))
end

-- state.path() is native: its doc block is in _meta/state.lua.
state.path = native.path

return state
