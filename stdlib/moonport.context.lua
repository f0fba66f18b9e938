--- moonport.context: a value that follows a task and the tasks it spawns
--- (as a task-local variable would). `state.once` uses it so that what a
--- vendor binding creates inside `fn`, even from tasks `fn` spawns, is
--- journaled under the once key and adopted, not sent again, on a rerun.
local context = {}

local by_coroutine = setmetatable({}, {__mode = "k"})

--- The context of the running task, or nil.
function context.current()
  return by_coroutine[coroutine.running()]
end

--- Runs fn(...) with ctx as the running task's context; the previous one
--- comes back afterwards, whether fn returns or raises.
function context.with(ctx, fn, ...)
  local me = coroutine.running()
  local previous = by_coroutine[me]
  by_coroutine[me] = ctx
  local restore <close> = setmetatable({}, {__close = function() by_coroutine[me] = previous end})
  return fn(...)
end

--- fn wrapped so that, run in a new task, it starts with the caller's context.
function context.inherit(fn)
  local ctx = by_coroutine[coroutine.running()]
  if ctx == nil then return fn end
  return function(...)
    by_coroutine[coroutine.running()] = ctx
    return fn(...)
  end
end

return context
