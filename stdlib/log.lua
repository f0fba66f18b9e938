--- log: one line per message on stderr, with the time and the level.
--- log.info("exported %d rows to %s", n, path); log.debug only shows with -v.
local host = require "moonport"

local log = {}

local function emit(level, fmt, ...)
  local text
  if select("#", ...) == 0 then
    text = tostring(fmt)
  else
    if type(fmt) ~= "string" then
      error(host.error("validation", "log." .. level .. ": argument #1 (format) must be a string, got " .. type(fmt)), 3)
    end
    local ok, result = pcall(string.format, fmt, ...)
    if not ok then
      error(host.error("validation", "log." .. level .. ": bad format: " .. tostring(result)), 3)
    end
    text = result
  end
  host.log(level, text)
end

function log.debug(fmt, ...) emit("debug", fmt, ...) end
function log.info(fmt, ...) emit("info", fmt, ...) end
function log.warn(fmt, ...) emit("warn", fmt, ...) end
function log.error(fmt, ...) emit("error", fmt, ...) end

return log
