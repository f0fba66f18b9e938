--- moonport.args: the one argument checker and the one way a built-in
--- module raises, shared by every stdlib module (batch, task, state, dates,
--- reconcile, workflow, http, the vendor bindings).
---
--- Where an error points: `moonport.error` (the host) sets the error's
--- `where` to the first frame that is neither a C function nor a stdlib
--- chunk ("@stdlib/..."), that is, the line of the script that called into
--- moonport. args.error and args.raise rely on that one rule: no module
--- counts stack levels.
---
--- The message of a bad argument, option or field has one shape, that of
--- the host's own checks (LuaCall.argumentError):
---   "<function>: <what> must be <expected>, got <got>"
---   "batch.chunks: argument #2 (size) must be an integer >= 1, got 0"
---   "clari.poll: option 'interval' must be a number, got string"
--- <got> is the value's Lua type when the type is wrong, the value itself
--- when the type is right but the value is not (0, 1.5, 'fortnight').
local moonport = require "moonport"

local args = {}

-- `where` of the functions below: the function's name ("batch.chunks"), or
-- {fname = "clari.export", vendor = "clari"} for a vendor's function (its
-- errors carry `vendor`).
local function name_of(where)
  if type(where) == "table" then return where.fname, where.vendor end
  return where, nil
end

--- The error object (not raised) of kind, message and fields, located at
--- the first frame outside the stdlib.
---@param kind string     "validation", "usage", "http", "auth", "rate_limited", "timeout", "network" or "job_failed"
---@param message string
---@param fields? table   status, code, retryable, details, vendor, ...
---@return moonport.Error err
function args.error(kind, message, fields)
  return moonport.error(kind, message, fields)
end

--- Raises args.error(kind, message, fields).
function args.raise(kind, message, fields)
  error(moonport.error(kind, message, fields), 0)
end

--- Raises `err` again unchanged, except that an error object without a
--- `where` (made where no script frame was on the stack: in a native
--- callback, a task of the stdlib's own) gets the one rule's location as
--- seen from here. Any other value is raised as it is.
function args.rethrow(err)
  if type(err) == "table" and getmetatable(err) ~= nil and rawget(err, "kind") ~= nil
     and (err.where == nil or err.where == "") then
    err.where = moonport.error("usage", "").where
  end
  error(err, 0)
end

--- Raises kind = "validation" in the one shape:
--- "<fname>: <what> must be <expected>, got <got>". For the checks
--- args.check cannot express (a value of one of several forms).
---@param where string|table  the function's name, or {fname=, vendor=}
---@param what string         "argument #1 (items)", "option 'key'", "field 'limit'", "item 3"
---@param expected string     "a list, an iterator function or a CSV/NDJSON file path"
---@param got string          what was given (args.got(value) for its type)
function args.fail(where, what, expected, got)
  local fname, vendor = name_of(where)
  args.raise("validation", string.format("%s: %s must be %s, got %s", fname, what, expected, got),
    vendor and {vendor = vendor} or nil)
end

--- How a wrong value is named after "got": its Lua type ("nil", "number",
--- "string", "table", ...), as the host's checks name it.
function args.got(v)
  return type(v)
end

-- The value itself, for "got" when its type was right.
local function shown(v)
  if type(v) == "string" then return "'" .. v .. "'" end
  return tostring(v)
end

-- "an integer >= 1", "a string", "a non-empty string".
local function phrase(expected) return (expected:match("^[aeiou]") and "an " or "a ") .. expected end

local function sorted_names(set)
  local names = {}
  for k in pairs(set) do names[#names + 1] = tostring(k) end
  table.sort(names)
  return names
end

--- Checks one argument, option or field, and returns it. Raises kind =
--- "validation" in the one shape when it is not as expected.
--- `expected`:
---   "string", "non-empty string", "number", "integer", "boolean",
---   "table", "function", "list" (a table);
---   a bound: "integer >= 1", "number > 0" (a word, >, >=, <, <=, a number);
---   a set {A = true, B = true} of allowed strings.
--- `optional`: nil is accepted (and returned).
---   args.check("batch.chunks", "argument #2 (size)", size, "integer >= 1")
---   args.check(w, "option 'mode'", opts.mode, {initial = true, incremental = true}, true)
---@param where string|table  the function's name, or {fname=, vendor=} for a vendor's function
---@param what string         "argument #N (name)", "option 'name'", "field 'name'", ...
---@param value any
---@param expected string|table
---@param optional? boolean
---@return any value
function args.check(where, what, value, expected, optional)
  if value == nil and optional then return nil end
  if type(expected) == "table" then
    if type(value) == "string" and expected[value] ~= nil then return value end
    args.fail(where, what, "one of " .. table.concat(sorted_names(expected), ", "),
      type(value) == "string" and shown(value) or type(value))
  end
  local word, op, bound = expected:match("^(%a+) ([<>]=?) (%-?[%d%.]+)$")
  if word == nil then word = expected end
  local ok
  if word == "integer" then
    ok = math.type(value) == "integer"
    if not ok and type(value) == "number" then args.fail(where, what, phrase(expected), shown(value)) end
  elseif word == "list" then
    ok = type(value) == "table"
  elseif word == "non-empty string" then
    ok = type(value) == "string"
    if ok and value == "" then args.fail(where, what, phrase(expected), "''") end
  else
    ok = type(value) == word
  end
  if not ok then args.fail(where, what, phrase(expected), type(value)) end
  if op then
    local n = tonumber(bound)
    local within = (op == ">=" and value >= n) or (op == ">" and value > n) or (op == "<=" and value <= n)
      or (op == "<" and value < n)
    if not within then args.fail(where, what, phrase(expected), shown(value)) end
  end
  return value
end

--- Raises kind = "validation" for a key of `t` not in `known` (a typo in an
--- option's name must not be ignored): "<fname>: unknown <what> 'k' (known: a, b)".
---@param where string|table  the function's name, or {fname=, vendor=}
---@param what string         "option", "field", ...
---@param t table
---@param known table         {name = true, ...}
function args.check_known(where, what, t, known)
  for k in pairs(t) do
    if not known[k] then
      local fname, vendor = name_of(where)
      args.raise("validation", string.format("%s: unknown %s '%s' (known: %s)", fname, what, tostring(k),
        table.concat(sorted_names(known), ", ")), vendor and {vendor = vendor} or nil)
    end
  end
end

--- An options argument: nil gives {}; otherwise it must be a table whose
--- keys are all in `known`. Returns the options.
---   opts = args.options("batch.run", 4, opts, {concurrency = true})
---@param where string|table  the function's name, or {fname=, vendor=}
---@param argn integer        the argument's position
---@param opts any
---@param known table         {name = true, ...}
---@return table opts
function args.options(where, argn, opts, known)
  if opts == nil then return {} end
  args.check(where, "argument #" .. argn .. " (options)", opts, "table")
  args.check_known(where, "option", opts, known)
  return opts
end

return args
