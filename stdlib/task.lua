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
local context = require "moonport.context"
local args = require "moonport.args"

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
  args.check("task.all", "argument #1 (fns)", fns, "list")
  for i = 1, #fns do args.check("task.all", "item " .. i, fns[i], "function") end
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
  args.check("task.map", "argument #1 (list)", list, "table")
  args.check("task.map", "argument #2 (fn)", fn, "function")
  args.check("task.map", "argument #3 (options)", opts, "table", true)
  local limit = opts and opts.concurrency or task.default_concurrency
  args.check("task.map", "concurrency", limit, "integer >= 1")
  local n = #list
  local next_index = 0
  return task._pool(math.min(limit, n), function(pool)
    if pool.stop then return nil end
    next_index = next_index + 1
    if next_index > n then return nil end
    return next_index, list[next_index]
  end, fn)
end

-- The worker pool of task.map and batch.run: `workers` tasks, each calling
-- take(pool) for the next index and item (nil index: none left) and then
-- fn(item, index), until take returns nil; results[index] is fn's first
-- result. A failure (fn's, or one take reports by pool.fail(index, err))
-- sets pool.stop, so that take starts nothing new; once every task has
-- ended, the error of the lowest index is raised (a task that itself died
-- counts after every index). Returns the results.
function task._pool(workers, take, fn)
  local pool = {stop = false}
  local results, errors = {}, {}
  function pool.fail(index, err)
    errors[#errors + 1] = {index = index, error = err}
    pool.stop = true
  end
  local function worker()
    while true do
      local i, item = take(pool)
      if i == nil then return end
      local ok, value = pcall(fn, item, i)
      if ok then results[i] = value else pool.fail(i, value) end
    end
  end
  local handles = {}
  for w = 1, workers do handles[w] = task.spawn(worker) end
  for w = 1, #handles do
    local ok, e = pcall(native.wait, handles[w])
    if not ok then errors[#errors + 1] = {index = math.huge, error = e} end
  end
  if #errors > 0 then
    table.sort(errors, function(a, b) return a.index < b.index end)
    error(errors[1].error, 0)
  end
  return results
end

return task
