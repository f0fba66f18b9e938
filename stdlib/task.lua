--- task: concurrency for scripts. Tasks are coroutines the host drives; a
--- call that waits (http, task.sleep, job polling) lets the other tasks run.
---   local h = task.spawn(fn, ...)   -- starts fn(...) as a task
---   local a, b = task.wait(h)       -- its results, or its error raised here
---   task.all({f1, f2})              -- runs each, returns the list of first results
---   task.map(list, fn, {concurrency = 8})  -- fn(item, i) for each item, results in order
---   task.sleep(0.5)
--- A task that fails and is never waited for is reported when the script
--- ends (exit 1): errors are never swallowed.
local native = require "moonport.task"
local moonport = require "moonport"
local context = require "moonport.context"

local task = {
  wait = native.wait,
  sleep = native.sleep,
}

--- Starts fn(...) as a task; it inherits the caller's context (see moonport.context).
function task.spawn(fn, ...)
  if type(fn) ~= "function" then return native.spawn(fn, ...) end
  return native.spawn(context.inherit(fn), ...)
end

local function validation(fmt, ...)
  return moonport.error("validation", string.format(fmt, ...))
end

--- Waits for every handle; returns the list of first results, or raises the
--- error of the first (in list order) that failed, once all have finished.
local function wait_all(handles)
  local results, first_error, failed = {}, nil, false
  for i = 1, #handles do
    local ok, value = pcall(native.wait, handles[i])
    if ok then
      results[i] = value
    elseif not failed then
      failed, first_error = true, value
    end
  end
  if failed then error(first_error, 0) end
  return results
end

function task.all(fns)
  if type(fns) ~= "table" then
    error(validation("task.all: argument #1 (fns) must be a list of functions, got %s", type(fns)), 2)
  end
  for i = 1, #fns do
    if type(fns[i]) ~= "function" then
      error(validation("task.all: item %d must be a function, got %s", i, type(fns[i])), 2)
    end
  end
  local handles = {}
  for i = 1, #fns do handles[i] = task.spawn(fns[i]) end
  return wait_all(handles)
end

task.default_concurrency = 8

function task.map(list, fn, opts)
  if type(list) ~= "table" then
    error(validation("task.map: argument #1 (list) must be a table, got %s", type(list)), 2)
  end
  if type(fn) ~= "function" then
    error(validation("task.map: argument #2 (fn) must be a function, got %s", type(fn)), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(validation("task.map: argument #3 (options) must be a table, got %s", type(opts)), 2)
  end
  local limit = opts and opts.concurrency or task.default_concurrency
  if math.type(limit) ~= "integer" or limit < 1 then
    error(validation("task.map: concurrency must be an integer >= 1, got %s", tostring(limit)), 2)
  end
  local n = #list
  local results = {}
  local next_index, stop = 0, false
  local errors = {}
  -- Each worker takes the next item until none is left; after a failure no
  -- new item starts, and the failure of the lowest index is raised.
  local function worker()
    while not stop do
      next_index = next_index + 1
      local i = next_index
      if i > n then return end
      local ok, value = pcall(fn, list[i], i)
      if ok then
        results[i] = value
      else
        errors[#errors + 1] = {index = i, error = value}
        stop = true
      end
    end
  end
  local handles = {}
  for w = 1, math.min(limit, n) do handles[w] = task.spawn(worker) end
  wait_all(handles)
  if #errors > 0 then
    table.sort(errors, function(a, b) return a.index < b.index end)
    error(errors[1].error, 0)
  end
  return results
end

return task
