---@meta task

-- The doc blocks of task: task.wait and task.sleep, written in Swift
-- (Sources/MoonportCore/TaskModule.swift), and the handle task.spawn returns.
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local task = {}

--- A running or finished task, made by task.spawn; give it to task.wait.
---@class task.Handle
local Handle = {}

--- Waits for a task made by task.spawn and returns its function's results;
--- if it raised, its error is raised here. Other tasks run meanwhile. A
--- finished task can be waited for again.
--- Raises kind = "validation" when `handle` is not a task of task.spawn,
--- "usage" when a task waits for itself or the call cannot wait.
---   local h = task.spawn(fetch, url); ...; local body = task.wait(h)
---@param handle task.Handle  what task.spawn returned
---@return any ...  the task's results
function task.wait(handle) end

--- Sleeps for `seconds` (fractions allowed); other tasks run meanwhile.
--- Raises kind = "validation" for a number that is negative or not finite.
---@param seconds number  how long to sleep
function task.sleep(seconds) end

return task
