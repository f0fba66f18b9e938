--- Plumbing shared by the helper modules (batch, workflow, dates,
--- reconcile): moonport error objects whose `where` names the script's line
--- rather than the stdlib's, and type names for argument messages.
local moonport = require "moonport"

local args = {}

-- Whether a chunk comes from a built-in module (not the script).
local function builtin_source(source)
  local name = source:match("^@stdlib/(.+)%.lua$")
  return name ~= nil and package.preload[name] ~= nil
end

--- Raises a moonport error object (kind, message, fields) located at
--- the first caller outside the stdlib.
function args.raise(kind, message, fields)
  local level = 2
  while true do
    local info = debug.getinfo(level, "S")
    if info == nil or (info.what ~= "C" and not builtin_source(info.source)) then break end
    level = level + 1
  end
  error(moonport.error(kind, message, fields, level), 0)
end

--- "an integer", "a number", "a string", "nothing", ...: for "must be X, got Y".
function args.type_name(v)
  if type(v) == "number" then return math.type(v) == "integer" and "an integer" or "a number" end
  if v == nil then return "nothing" end
  return "a " .. type(v)
end

return args
