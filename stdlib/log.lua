--- log: one line per message on stderr, with the time and the level.
--- log.info("exported %d rows to %s", n, path); log.debug only shows with -v.
local host = require "moonport"
local args = require "moonport.args"

local log = {}

local function emit(level, fmt, ...)
  local text
  if select("#", ...) == 0 then
    text = tostring(fmt)
  else
    args.check("log." .. level, "argument #1 (format)", fmt, "string")
    local ok, result = pcall(string.format, fmt, ...)
    if not ok then args.raise("validation", "log." .. level .. ": bad format: " .. tostring(result)) end
    text = result
  end
  host.log(level, text)
end

--- Writes a debug line, shown only with -v / --verbose to stderr, with the time and the level. With arguments,
--- `fmt` is a string.format format; without, `fmt` is written as tostring
--- gives it. Secrets seen so far are masked.
---   log.debug("page %d: %d items", page, #items)
--- Raises kind = "validation" when, with arguments, `fmt` is not a string or
--- does not fit them.
---@param fmt any  a string.format format (any value when there are no arguments)
---@param ... any  the format's arguments
function log.debug(fmt, ...) emit("debug", fmt, ...) end
--- Writes an info line to stderr, with the time and the level. With arguments,
--- `fmt` is a string.format format; without, `fmt` is written as tostring
--- gives it. Secrets seen so far are masked.
---   log.info("exported %d rows to %s", n, path)
--- Raises kind = "validation" when, with arguments, `fmt` is not a string or
--- does not fit them.
---@param fmt any  a string.format format (any value when there are no arguments)
---@param ... any  the format's arguments
function log.info(fmt, ...) emit("info", fmt, ...) end
--- Writes a warning line to stderr, with the time and the level. With arguments,
--- `fmt` is a string.format format; without, `fmt` is written as tostring
--- gives it. Secrets seen so far are masked.
---   log.warn("%s: no rows for %s", vendor, day)
--- Raises kind = "validation" when, with arguments, `fmt` is not a string or
--- does not fit them.
---@param fmt any  a string.format format (any value when there are no arguments)
---@param ... any  the format's arguments
function log.warn(fmt, ...) emit("warn", fmt, ...) end
--- Writes an error line (it does not raise: use error() for that) to stderr, with the time and the level. With arguments,
--- `fmt` is a string.format format; without, `fmt` is written as tostring
--- gives it. Secrets seen so far are masked.
---   log.error("job %s failed: %s", job.id, job.error)
--- Raises kind = "validation" when, with arguments, `fmt` is not a string or
--- does not fit them.
---@param fmt any  a string.format format (any value when there are no arguments)
---@param ... any  the format's arguments
function log.error(fmt, ...) emit("error", fmt, ...) end

return log
