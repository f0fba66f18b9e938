--- batch: chunking and batching of rows, streaming.
---
---   local batch = require "batch"
---   for chunk, i in batch.chunks("rows.csv", 1000) do ... end         -- lists of at most 1,000 rows
---   for chunk, i, bytes in batch.by_bytes(records, 10 * 1024 * 1024) do ... end  -- at most 10 MB of JSON each
---   local results, n = batch.run(rows, 1000, function(chunk, i)
---     return claravine.submit("data", "ds-campaigns", {name = "load " .. i, fields = fields, rows = chunk})
---   end, {concurrency = 4})                                          -- at most 4 chunks in flight
---
--- Items are a list, an iterator function (returning nil at the end), the
--- path of a CSV file (rows keyed by its header) or of an NDJSON file
--- (.ndjson/.jsonl: one decoded value a line), or a table {fields=, rows=}
--- as claravine.data returns it (rows keyed by field name). An empty table
--- is an empty list; a table with keys but no item 1 raises kind =
--- "validation" rather than reading as empty: an API answer such as
--- {items = {...}, totalCount = n} (the message names its keys; pass
--- answer.items), or rows whose fields are not a list of strings. Nothing is
--- read before it is needed: memory holds the chunks being worked on, not the input.
local task = require "task"
local json = require "json"

local batch = {}

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

local args = require "moonport.args"
local raise, check, fail = args.raise, args.check, args.fail

---------------------------------------------------------------------------
-- Sources
---------------------------------------------------------------------------

--- The items of a list, an iterator, a CSV/NDJSON path or a {fields=, rows=}
--- table, as an iterator returning one item a call (nil at the end), for
--- the modules built on batch. An empty table is an empty list; a table
--- with keys but no item 1 raises unless it is a valid {fields=, rows=}
--- (fields a list of strings, rows a table), naming its keys when it has no
--- rows. `fname` and `what` name the function and the argument in the
--- validation errors raised.
---@param fname string      the public function, for messages ("reconcile.compare")
---@param what string       the argument, for messages ("argument #1 (sent)")
---@param items any         what the caller was given
---@param opts? table       {format = "csv"|"ndjson", header = boolean}
---@return fun():any        an iterator over the items
function batch._source(fname, what, items, opts)
  opts = opts or {}
  check(fname, "option 'format'", opts.format, {csv = true, ndjson = true}, true)
  local kind = type(items)
  if kind == "function" then
    return function() return (items()) end
  elseif kind == "table" then
    if items[1] == nil and items.rows ~= nil then
      -- {fields=, rows=}: both must be what claravine.data gives.
      if items.fields == nil then
        raise("validation", string.format("%s: %s has rows but no fields = {names...} (a list of strings) to name "
          .. "their columns, as claravine.data returns them", fname, what))
      end
      if type(items.fields) ~= "table" then
        fail(fname, what .. ": fields", "a list of field names (strings)", args.got(items.fields))
      end
      for i = 1, #items.fields do
        if type(items.fields[i]) ~= "string" then
          fail(fname, string.format("%s: fields[%d]", what, i), "a field name (a string)", args.got(items.fields[i]))
        end
      end
      if type(items.rows) ~= "table" then fail(fname, what .. ": rows", "a list of rows", args.got(items.rows)) end
    elseif items[1] == nil and next(items) ~= nil then
      -- Not a list: most likely a whole API answer whose list is one of its fields.
      local keys, list_key = {}, nil
      for k, v in pairs(items) do
        keys[#keys + 1] = tostring(k)
        if type(k) == "string" and type(v) == "table" and v[1] ~= nil
          and (list_key == nil or k < list_key) then list_key = k end
      end
      table.sort(keys)
      if #keys > 8 then keys = {table.unpack(keys, 1, 8)}; keys[9] = "..." end
      local hint = "answer.items, for example"
      if list_key and list_key:match("^[%a_][%w_]*$") then hint = "answer." .. list_key
      elseif list_key then hint = string.format("answer[%q]", list_key) end
      raise("validation", string.format("%s: %s is a table with keys %s, not a list; pass the list itself (%s)",
        fname, what, table.concat(keys, ", "), hint))
    end
    if items[1] == nil and items.rows ~= nil then
      -- {fields = {...}, rows = {{...}, ...}}: rows keyed by field name.
      local fields, rows, i = items.fields, items.rows, 0
      return function()
        i = i + 1
        local r = rows[i]
        if r == nil then return nil end
        if type(r) ~= "table" then return r end
        local out = {}
        for k, name in ipairs(fields) do out[name] = r[k] end
        return out
      end
    end
    local i, n = 0, #items
    return function()
      i = i + 1
      if i <= n then return items[i] end
    end
  elseif kind == "string" then
    local f = io.open(items, "rb")
    if not f then raise("validation", string.format("%s: %s: cannot read the file '%s'", fname, what, items)) end
    f:close()
    local format = opts.format
      or (items:lower():match("%.csv$") and "csv")
      or ((items:lower():match("%.ndjson$") or items:lower():match("%.jsonl$")) and "ndjson")
    if format == "csv" then
      local it = require("csv").read(items, {header = opts.header ~= false})
      return function() return (it()) end
    elseif format == "ndjson" then
      local it = require("ndjson").read(items)
      return function() return (it()) end
    end
    raise("validation", string.format("%s: %s: cannot tell the format of '%s' (give a .csv, .ndjson or .jsonl file, "
      .. "or the option format = \"csv\" or \"ndjson\")", fname, what, items))
  end
  fail(fname, what, "a list, an iterator function or a CSV/NDJSON file path", args.got(items))
end

--- Iterates over the items of a list, an iterator function, a CSV file
--- (rows keyed by the header; `header = false` gives lists), an NDJSON file
--- (.ndjson or .jsonl; `format` overrides the extension) or a {fields=, rows=}
--- table (rows keyed by field name; `fields` must be a list of strings).
--- Raises kind = "validation" for anything else, such as a table with keys
--- but no item 1 (an API answer: pass its list, answer.items), or for a file
--- that cannot be read. An empty table is an empty list.
---   for row in batch.items("campaigns.csv") do print(row.campaign_id) end
---@param items table|string|fun():any   a list, an iterator, a file path or {fields=, rows=}
---@param opts? table                    {format = "csv"|"ndjson", header = boolean}
---@return fun():any                     an iterator returning one item a call, nil at the end
function batch.items(items, opts)
  opts = args.options("batch.items", 2, opts, {format = true, header = true})
  return batch._source("batch.items", "argument #1 (items)", items, opts)
end

---------------------------------------------------------------------------
-- Chunks
---------------------------------------------------------------------------

local function chunk_reader(next_item, size)
  local index, done = 0, false
  return function()
    if done then return nil end
    local chunk = {}
    for k = 1, size do
      local item = next_item()
      if item == nil then done = true; break end
      chunk[k] = item
    end
    if #chunk == 0 then return nil end
    index = index + 1
    return chunk, index
  end
end

--- Splits items into lists of at most `size` items, in order. Streams: each
--- call reads the next `size` items and no more, so an iterator is never
--- read ahead by more than one chunk. Items as batch.items takes them.
---   for chunk, i in batch.chunks(rows, 1000) do send(chunk) end
---@param items table|string|fun():any   a list, an iterator, a CSV/NDJSON path or {fields=, rows=}
---@param size integer                   items per chunk (>= 1)
---@param opts? table                    {format = "csv"|"ndjson", header = boolean} for a path
---@return function                    an iterator returning each chunk and its index (from 1), nil at the end
function batch.chunks(items, size, opts)
  check("batch.chunks", "argument #2 (size)", size, "integer >= 1")
  opts = args.options("batch.chunks", 3, opts, {format = true, header = true})
  return chunk_reader(batch._source("batch.chunks", "argument #1 (items)", items, opts), size)
end

--- Splits items into lists whose JSON array (`[a,b,c]` of the encoded items)
--- is at most `max_bytes` bytes, for size-limited uploads (Clari bulk
--- ingestion takes 10 MB a request); the same bound holds for the items as
--- NDJSON lines. Reads one item past a chunk at most (the one that did not
--- fit starts the next chunk). An item too big on its own raises
--- kind = "validation" naming it.
---   for chunk, i, bytes in batch.by_bytes("records.ndjson", 10 * 1024 * 1024) do ... end
---@param items table|string|fun():any   a list, an iterator, a CSV/NDJSON path or {fields=, rows=}
---@param max_bytes integer              the most bytes a chunk may take (>= 3)
---@param encode? fun(item:any):string   how an item is sent (default json.encode)
---@return function                    an iterator returning each chunk, its index and its size in bytes, nil at the end
function batch.by_bytes(items, max_bytes, encode)
  check("batch.by_bytes", "argument #2 (max_bytes)", max_bytes, "integer >= 3")
  check("batch.by_bytes", "argument #3 (encode)", encode, "function", true)
  encode = encode or json.encode
  local next_item = batch._source("batch.by_bytes", "argument #1 (items)", items)
  local pending, pending_size, done, index, seen = nil, nil, false, 0, 0
  local function size_of(item)
    local text = encode(item)
    if type(text) ~= "string" then
      fail("batch.by_bytes", "the result of encode for item " .. seen, "a string", args.got(text))
    end
    if #text + 2 > max_bytes then
      raise("validation", string.format("batch.by_bytes: item %d takes %d bytes encoded, more than max_bytes (%d) on its own",
        seen, #text, max_bytes))
    end
    return #text
  end
  return function()
    if done and pending == nil then return nil end
    local chunk, bytes = {}, 2   -- "[" and "]"
    if pending ~= nil then
      chunk[1], bytes = pending, bytes + pending_size
      pending = nil
    end
    while not done do
      local item = next_item()
      if item == nil then done = true; break end
      seen = seen + 1
      local n = size_of(item)
      local extra = n + (#chunk > 0 and 1 or 0)   -- the comma before it
      if bytes + extra > max_bytes then
        pending, pending_size = item, n
        break
      end
      chunk[#chunk + 1], bytes = item, bytes + extra
    end
    if #chunk == 0 then return nil end
    index = index + 1
    return chunk, index, bytes
  end
end

---------------------------------------------------------------------------
-- run
---------------------------------------------------------------------------

batch.default_concurrency = task.default_concurrency

--- Runs fn(chunk, index) for each chunk of at most `size` items, with at most
--- `concurrency` chunks in flight (each in a task), and returns what fn
--- returned for each chunk, in chunk order. Memory is bounded: a chunk is
--- read only when a task is free to take it, so no more than `concurrency`
--- chunks are held at once. When fn raises, no new chunk starts, the
--- chunks in flight finish, and the error of the lowest chunk index is
--- raised unchanged (as task.map does). Runs inside the caller's
--- state.once, so vendor calls in fn are journaled as usual.
---   local jobs, rows = batch.run("rows.csv", 1000, function(chunk, i) return send(chunk, i) end, {concurrency = 4})
---@param items table|string|fun():any   a list, an iterator, a CSV/NDJSON path or {fields=, rows=}
---@param size integer                   items per chunk (>= 1)
---@param fn fun(chunk:table,index:integer):any  the work for one chunk
---@param opts? table                    {concurrency = N} (default batch.default_concurrency, 8), format=, header= for a path
---@return table results                 results[i] = what fn returned for chunk i (nil when it returned nothing)
---@return integer items                 how many items were read
---@return integer chunks                how many chunks ran
function batch.run(items, size, fn, opts)
  check("batch.run", "argument #2 (size)", size, "integer >= 1")
  check("batch.run", "argument #3 (fn)", fn, "function")
  opts = args.options("batch.run", 4, opts, {concurrency = true, format = true, header = true})
  local concurrency = check("batch.run", "option 'concurrency'", opts.concurrency, "integer >= 1", true)
    or batch.default_concurrency
  local next_chunk = chunk_reader(batch._source("batch.run", "argument #1 (items)", items,
    {format = opts.format, header = opts.header}), size)

  local reading, finished = false, false
  local item_count, chunk_count = 0, 0
  -- One task reads at a time (an iterator may yield, as an HTTP pager does),
  -- and only when it is free to work on what it reads.
  local function take(pool)
    while reading do task.sleep(0.005) end
    if pool.stop or finished then return nil end
    reading = true
    local ok, chunk, index = pcall(next_chunk)
    reading = false
    if not ok then
      pool.fail(chunk_count + 1, chunk)
      return nil
    end
    if chunk == nil then finished = true; return nil end
    item_count, chunk_count = item_count + #chunk, index
    return index, chunk
  end
  -- No more tasks than chunks, when the number of items is known.
  local workers = concurrency
  if type(items) == "table" then
    local n = items[1] == nil and type(items.rows) == "table" and #items.rows or #items
    workers = math.max(1, math.min(concurrency, (n + size - 1) // size))
  end
  local results = task._pool(workers, take, fn)
  return results, item_count, chunk_count
end

return batch
