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

--- Starts fn(...) as a task (a coroutine the host drives) and returns its
--- handle at once; the task runs while the caller waits (task.wait, or any
--- blocking call). It inherits the caller's context, so what it creates
--- inside state.once is journaled under that key. A task that fails and is
--- never waited for is reported when the script ends (exit 1).
--- Raises kind = "validation" when `fn` is not a function.
---   local h = task.spawn(clari.export, "activity", params)
---   local job = task.wait(h)
---@param fn function  the function to run
---@param ... any      its arguments
---@return task.Handle handle  for task.wait
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

--- Runs every function of the list as a task, all at once, and waits for
--- all of them; returns the list of their first results, in list order.
--- If any raised, the error of the first one (in list order) that failed is
--- raised, once all have finished.
--- Raises kind = "validation" when `fns` is not a list of functions.
---   local a, b = table.unpack(task.all{function() return f(1) end, function() return f(2) end})
---@param fns function[]  the functions (called with no arguments)
---@return any[] results  results[i]: the first result of fns[i]
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

--- How many items task.map runs at once when opts.concurrency is not given.
---@type integer
task.default_concurrency = 8

--- Calls fn(item, i) for every item of the list, at most `opts.concurrency`
--- at a time (task.default_concurrency, 8, by default), and returns their
--- first results in list order. After a failure no new item starts, and
--- once the running ones end the error of the lowest index that failed is
--- raised.
--- Raises kind = "validation" for a bad argument, or a concurrency that is
--- not an integer >= 1.
---   local pages = task.map(urls, function(url) return http.get(url):json() end, {concurrency = 4})
---@param list any[]  the items
---@param fn fun(item: any, i: integer): any  called for each item with its index
---@param opts? {concurrency?: integer}  how many run at once
---@return any[] results  results[i]: the first result of fn(list[i], i)
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
