--- moonport.errors: a vendor's error object, and what an error says about
--- trying again. The facts come with the error: the http module sets
--- `retryable` (the retry policy's verdict that trying again later can
--- work) and `may_have_taken_effect` (false when the request certainly had
--- no effect: the connection was refused, a 429 or 503 turned it away, a
--- 4xx rejected it) on every error it raises, and the vendor layer keeps
--- them on the errors it builds. Nothing here reads an error's message.
local args = require "moonport.args"
local native_http = require "moonport.http"

local E = {}

--- An error object for `vendor` (not raised), located at the first frame
--- outside the stdlib. The message starts with the vendor's name.
---@param vendor string   "clari", ...
---@param kind string     "http", "auth", "rate_limited", "timeout", "network", "job_failed", "validation" or "usage"
---@param message string
---@param fields? table   status, code, retryable, may_have_taken_effect, details, ...
---@return moonport.Error err
function E.error(vendor, kind, message, fields)
  local f = {}
  for k, v in pairs(fields or {}) do f[k] = v end
  f.vendor = vendor
  local named = message:sub(1, #vendor + 1) == vendor .. "." or message:sub(1, #vendor + 1) == vendor .. ":"
    or message:sub(1, 4) == "job:"
  return args.error(kind, (named and "" or (vendor .. ": ")) .. message, f)
end

--- Raises E.error(vendor, kind, message, fields).
function E.raise(vendor, kind, message, fields)
  error(E.error(vendor, kind, message, fields), 0)
end

--- The http module's verdict on an answer's status: whether trying again
--- later can work (`retryable`), and whether the request may have taken
--- effect (`may_have_taken_effect`), for the error a binding builds from a
--- response it read with raise = false.
---@param status integer  the HTTP status
---@return boolean retryable
---@return boolean may_have_taken_effect
function E.verdict(status)
  return native_http.verdict(status)
end

--- How long to wait before trying again after `attempt` failures (a lost
--- create, a job status read): 0.5 s doubling up to 8 s, with jitter, so
--- that tasks which failed together do not try again together.
---@param attempt integer  the failures so far (1 for the first)
---@return number seconds
function E.backoff(attempt)
  return math.min(8, 0.5 * 2 ^ (attempt - 1)) * (0.5 + math.random() / 2)
end

--- Whether trying the same thing again later can work (a dropped
--- connection, a timeout, a 429, a 5xx): the `retryable` fact of the error.
---@param e any  an error
---@return boolean
function E.transient(e)
  return type(e) == "table" and e.retryable == true
end

--- Whether an error leaves it unknown if the request took effect (the
--- answer was lost, reset or late after sending, a 500, 502 or 504 that may
--- have come after the work was done, a 2xx whose body was cut short): the
--- `may_have_taken_effect` fact of the error. An error without it was not
--- raised by a request that was sent (a bad argument, no credential).
---@param e any  an error
---@return boolean
function E.outcome_unknown(e)
  return type(e) == "table" and e.may_have_taken_effect == true
end

return E
