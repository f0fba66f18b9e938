--- reconcile: compares what was sent with what a vendor reports back.
---
---   local reconcile = require "reconcile"
---   local r = reconcile.compare("sent.csv", claravine.data(ds, id), {key = "campaign_id", fields = {"channel", "budget"}})
---   print(r:report())          -- counts, then the first keys of each kind of difference
---   reconcile.check(sent, reported, {key = "id"})   -- raises kind = "validation" unless every row matches
---
--- Rows on either side: a list, an iterator function, a CSV path (rows keyed
--- by the header), an NDJSON path, or {fields=, rows=} as claravine.data
--- returns it. The sent side is held in memory as keys and the compared
--- values (as strings); the reported side streams.
---
--- Values are compared as strings after normalising: numbers, and strings
--- that read as decimal numbers, compare by value (1 == "1" == 1.0 == "1.0",
--- 0.5 == ".5", 1000 == "1e3"; exactly: 0.1 + 0.2 is not "0.3", and two
--- decimals that differ in any digit a double holds differ); integers and
--- digit strings keep every digit
--- (no rounding of long ids), and digit strings with leading zeros ("007")
--- stay text; nil, json.null and "" are all the empty value (CSV cannot tell
--- them apart); booleans are "true"/"false"; tables compare as their JSON
--- (sorted keys). Keys are normalised the same way.
local json = require "json"
local batch = require "batch"

local reconcile = {}

--- What reconcile.compare returns: the counts and keys as fields, and
--- r:report(), r:check(); tostring(r) is r:report().
---@class reconcile.Result
local Result = {}
Result.__index = Result
reconcile.Result = Result

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

local args = require "moonport.args"
local raise, fail = args.raise, args.fail

---------------------------------------------------------------------------
-- Normalising values
---------------------------------------------------------------------------

local function number_text(n)
  if math.type(n) == "integer" then return string.format("%d", n) end
  if n ~= n or n == math.huge or n == -math.huge then return tostring(n) end
  if n == math.floor(n) and math.abs(n) < 2^63 then
    local i = math.tointeger(n)
    if i then return string.format("%d", i) end
  end
  -- The shortest text that reads back as the same double: different
  -- values never compare equal, and 0.5 and ".5" still do.
  for digits = 15, 16 do
    local text = string.format("%." .. digits .. "g", n)
    if tonumber(text) == n then return text end
  end
  return string.format("%.17g", n)
end

--- The text a value is compared as (see the module's doc): numbers and
--- decimal strings by value, nil/json.null/"" as "", booleans as words,
--- tables as sorted JSON.
---   reconcile.normalize(1.0) == reconcile.normalize("1")  --> true
---@param v any      a value of a row
---@return string    what it is compared as
function reconcile.normalize(v)
  if v == nil or v == json.null then return "" end
  local t = type(v)
  if t == "string" then
    if v:match("^[+-]?%d+$") then
      -- Integers written out: kept digit for digit (ids longer than a double holds).
      local sign, digits = v:match("^([+-]?)(%d+)$")
      if digits == "0" then return "0" end
      return (sign == "-" and "-" or "") .. digits
    end
    if v:match("^[+-]?%d*%.?%d*[eE]?[+-]?%d*$") and not v:match("^[+-]?0%d") then
      local n = tonumber(v)
      if n then return number_text(n) end
    end
    return v
  end
  if t == "number" then return number_text(v) end
  if t == "boolean" then return tostring(v) end
  if t == "table" then
    local ok, text = pcall(json.encode, v, {sort_keys = true})
    if ok then return text end
  end
  return tostring(v)
end
local norm = reconcile.normalize

---------------------------------------------------------------------------
-- compare
---------------------------------------------------------------------------

-- A function(row, n, side) -> key text, from the `key` option.
local function key_function(key)
  local kt = type(key)
  local function field_of(row, n, side, f)
    if type(row) ~= "table" then
      fail("reconcile.compare", string.format("row %d of %s", n, side),
        "a table (or give key = function(row) ... end)", args.got(row))
    end
    return row[f]
  end
  local function must(text, n, side, what)
    if text == "" then
      raise("validation", string.format("reconcile.compare: row %d of %s has no key (%s)", n, side, what))
    end
    return text
  end
  if kt == "string" or math.type(key) == "integer" then
    local what = (kt == "string" and ("field '" .. key .. "'") or ("column " .. key)) .. " is empty"
    return function(row, n, side) return must(norm(field_of(row, n, side, key)), n, side, what) end, {[key] = true}
  elseif kt == "table" then
    if #key == 0 then raise("validation", "reconcile.compare: option 'key' is an empty list") end
    local set = {}
    for i, f in ipairs(key) do
      if type(f) ~= "string" and math.type(f) ~= "integer" then
        fail("reconcile.compare", string.format("key[%d]", i), "a field name or a column number", args.got(f))
      end
      set[f] = true
    end
    local what = "every key field is empty"
    return function(row, n, side)
      local parts, any = {}, false
      for i, f in ipairs(key) do
        parts[i] = norm(field_of(row, n, side, f))
        if parts[i] ~= "" then any = true end
      end
      return must(any and table.concat(parts, "|") or "", n, side, what)
    end, set
  elseif kt == "function" then
    return function(row, n, side) return must(norm(key(row)), n, side, "the key function returned nothing") end, {}
  end
  fail("reconcile.compare", "option 'key'", "a field name, a column number, a list of them or a function(row)",
    args.got(key))
end

local function sort_fields(list)
  table.sort(list, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  return list
end

--- Compares the rows sent with the rows a vendor reports, matched by key.
--- Returns a result: {sent= (rows sent), reported= (rows reported),
--- matched= (keys on both sides whose fields agree), missing= {keys sent,
--- not reported}, unexpected= {keys reported, not sent}, changed=
--- {{key=, field=, sent=, reported=}, ...} (values as compared),
--- duplicates= {sent = {keys}, reported = {keys}}, ok= (nothing missing,
--- unexpected, changed or duplicated)}, with r:report() and r:check().
--- Compared fields: opts.fields, or else every field of each sent row but
--- the key; fields only the vendor reports are ignored. See the module's
--- doc for how values are normalised. Raises kind = "validation" for bad
--- arguments or a row without a key.
---   local r = reconcile.compare(rows, "back.csv", {key = "id", fields = {"name", "amount"}})
---@param sent table|string|fun():any       the rows sent: a list, an iterator, a CSV/NDJSON path or {fields=, rows=}
---@param reported table|string|fun():any   the rows reported back, likewise
---@param opts table                        {key = FIELD | COLUMN | {FIELD, ...} | function(row), fields = {FIELD, ...}}
---@return reconcile.Result                 the result
function reconcile.compare(sent, reported, opts)
  args.check("reconcile.compare", "argument #3 (options)", opts, "table")
  args.check_known("reconcile.compare", "option", opts, {key = true, fields = true})
  if opts.key == nil then
    fail("reconcile.compare", "option 'key'", "the field that identifies a row (a name, a column number, a list of them "
      .. "or a function(row))", "nil")
  end
  local key_of, key_fields = key_function(opts.key)
  local fields = opts.fields
  if fields ~= nil then
    if type(fields) ~= "table" then fail("reconcile.compare", "option 'fields'", "a list of field names", args.got(fields)) end
    for i, f in ipairs(fields) do
      if type(f) ~= "string" and math.type(f) ~= "integer" then
        fail("reconcile.compare", string.format("fields[%d]", i), "a field name or a column number", args.got(f))
      end
    end
  end
  local next_sent = batch._source("reconcile.compare", "argument #1 (sent)", sent)
  local next_reported = batch._source("reconcile.compare", "argument #2 (reported)", reported)

  local r = setmetatable({sent = 0, reported = 0, matched = 0, missing = {}, unexpected = {},
    changed = {}, duplicates = {sent = {}, reported = {}}, ok = false}, Result)

  -- Sent rows by key: {fields = {...}, values = {...}}, in the order first sent.
  local by_key, order, dup_sent = {}, {}, {}
  for row in next_sent do
    r.sent = r.sent + 1
    local k = key_of(row, r.sent, "sent")
    if by_key[k] then
      if not dup_sent[k] then dup_sent[k] = true; r.duplicates.sent[#r.duplicates.sent + 1] = k end
    else
      local names = fields
      if names == nil then
        names = {}
        if type(row) == "table" then
          for f in pairs(row) do if not key_fields[f] then names[#names + 1] = f end end
        end
        sort_fields(names)
      end
      local values = {}
      for i, f in ipairs(names) do values[i] = norm(type(row) == "table" and row[f] or nil) end
      by_key[k] = {fields = names, values = values}
      order[#order + 1] = k
    end
  end

  local seen, dup_reported, unexpected_seen = {}, {}, {}
  for row in next_reported do
    r.reported = r.reported + 1
    local k = key_of(row, r.reported, "reported")
    local s = by_key[k]
    if s == nil then
      if unexpected_seen[k] then
        if not dup_reported[k] then dup_reported[k] = true; r.duplicates.reported[#r.duplicates.reported + 1] = k end
      else
        unexpected_seen[k] = true
        r.unexpected[#r.unexpected + 1] = k
      end
    elseif seen[k] then
      if not dup_reported[k] then dup_reported[k] = true; r.duplicates.reported[#r.duplicates.reported + 1] = k end
    else
      seen[k] = true
      local same = true
      for i, f in ipairs(s.fields) do
        local got = norm(type(row) == "table" and row[f] or nil)
        if got ~= s.values[i] then
          same = false
          r.changed[#r.changed + 1] = {key = k, field = f, sent = s.values[i], reported = got}
        end
      end
      if same then r.matched = r.matched + 1 end
    end
  end
  for _, k in ipairs(order) do
    if not seen[k] then r.missing[#r.missing + 1] = k end
  end
  r.ok = #r.missing == 0 and #r.unexpected == 0 and #r.changed == 0
    and #r.duplicates.sent == 0 and #r.duplicates.reported == 0
  return r
end

---------------------------------------------------------------------------
-- Reports
---------------------------------------------------------------------------

local function plural(n, word) return string.format("%d %s%s", n, word, n == 1 and "" or "s") end

-- The first `limit` items of list as text, then "and K more".
local function first(list, limit, show)
  local parts = {}
  for i = 1, math.min(#list, limit) do parts[i] = show and show(list[i]) or list[i] end
  local text = table.concat(parts, ", ")
  if #list > limit then text = text .. string.format(", and %d more", #list - limit) end
  return text
end

local function changed_keys(r)
  local n, seen = 0, {}
  for _, c in ipairs(r.changed) do
    if not seen[c.key] then seen[c.key] = true; n = n + 1 end
  end
  return n
end

local function counts_line(r)
  local dups = #r.duplicates.sent + #r.duplicates.reported
  return string.format("%d sent, %d reported: %d matched, %d missing, %d unexpected, %d changed, %s",
    r.sent, r.reported, r.matched, #r.missing, #r.unexpected, changed_keys(r), plural(dups, "duplicate"))
end

--- The result as readable text: the counts, then for each kind of
--- difference the first `limit` keys (default 10) and "and K more".
---   print(r:report(5))
---@param limit? integer   keys shown per kind of difference (default 10)
---@return string          the report, lines ending in "\n"
function Result:report(limit)
  if getmetatable(self) ~= Result then raise("usage", "reconcile: call it as r:report() (with a colon)") end
  args.check("r:report", "argument #1 (limit)", limit, "integer >= 1", true)
  limit = limit or 10
  if self.ok then
    return string.format("reconcile: %d sent, %d reported: all %d matched\n", self.sent, self.reported, self.matched)
  end
  local lines = {"reconcile: " .. counts_line(self)}
  if #self.missing > 0 then lines[#lines + 1] = "  missing: " .. first(self.missing, limit) end
  if #self.unexpected > 0 then lines[#lines + 1] = "  unexpected: " .. first(self.unexpected, limit) end
  if #self.changed > 0 then
    lines[#lines + 1] = "  changed: " .. first(self.changed, limit, function(c)
      return string.format("%s %s: sent %q, reported %q", c.key, tostring(c.field), c.sent, c.reported)
    end)
  end
  if #self.duplicates.sent > 0 then lines[#lines + 1] = "  duplicated in sent: " .. first(self.duplicates.sent, limit) end
  if #self.duplicates.reported > 0 then
    lines[#lines + 1] = "  duplicated in reported: " .. first(self.duplicates.reported, limit)
  end
  return table.concat(lines, "\n") .. "\n"
end

Result.__tostring = function(self) return self:report() end

reconcile.details_limit = 100

local function head(list, limit)
  local out = {}
  for i = 1, math.min(#list, limit) do out[i] = list[i] end
  return out
end

--- Returns the result when every row matched; otherwise raises an error
--- object (kind = "validation") whose message states the counts and the
--- first keys, and whose `details` holds the counts and the first 100 keys
--- of each list (`truncated` = true when a list was cut).
---@return reconcile.Result   the result itself, when ok
function Result:check()
  if getmetatable(self) ~= Result then raise("usage", "reconcile: call it as r:check() (with a colon)") end
  if self.ok then return self end
  local parts = {}
  if #self.missing > 0 then parts[#parts + 1] = "missing " .. first(self.missing, 5) end
  if #self.unexpected > 0 then parts[#parts + 1] = "unexpected " .. first(self.unexpected, 5) end
  if #self.changed > 0 then
    parts[#parts + 1] = "changed " .. first(self.changed, 5, function(c) return c.key .. " (" .. tostring(c.field) .. ")" end)
  end
  if #self.duplicates.sent > 0 then parts[#parts + 1] = "duplicated in sent " .. first(self.duplicates.sent, 5) end
  if #self.duplicates.reported > 0 then parts[#parts + 1] = "duplicated in reported " .. first(self.duplicates.reported, 5) end
  local n = reconcile.details_limit
  local details = {
    sent = self.sent, reported = self.reported, matched = self.matched,
    missing = head(self.missing, n), unexpected = head(self.unexpected, n), changed = head(self.changed, n),
    duplicates = {sent = head(self.duplicates.sent, n), reported = head(self.duplicates.reported, n)},
    truncated = #self.missing > n or #self.unexpected > n or #self.changed > n
      or #self.duplicates.sent > n or #self.duplicates.reported > n,
  }
  raise("validation", "reconcile.check: " .. counts_line(self) .. " (" .. table.concat(parts, "; ") .. ")",
    {details = details})
end

--- Compares like reconcile.compare and raises unless every row matched:
--- kind = "validation", the message stating the counts and the first keys
--- of each difference, `details` as r:check() gives it.
---   reconcile.check(sent_rows, "reported.csv", {key = "id"})
---@param sent table|string|fun():any       the rows sent, as reconcile.compare takes them
---@param reported table|string|fun():any   the rows reported back
---@param opts table                        {key = ..., fields = {...}}, as reconcile.compare takes them
---@return reconcile.Result                 the result, when every row matched
function reconcile.check(sent, reported, opts)
  return reconcile.compare(sent, reported, opts):check()
end

return reconcile
