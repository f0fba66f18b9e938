--- moonport.shape: what a vendor's decoded answer must look like. A binding
--- reads an answer through V.object / V.list, so that an answer of another
--- shape (a changed API, a proxy, a captive portal) raises kind =
--- "validation" naming the request, never a raw Lua error.
local http = require "http"
local json = require "json"
local errors = require "moonport.errors"

local S = {}

--- How a decoded answer that is not the expected shape is named in an error.
function S.describe(v)
  if v == json.null then return "null" end
  if type(v) == "string" then return string.format("the string %q", #v > 60 and (v:sub(1, 60) .. "...") or v) end
  if type(v) == "number" or type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then return v[1] ~= nil and "a JSON list" or "a JSON object" end
  return type(v)
end

--- Raises kind = "validation": `what` (the request) answered `value` where
--- `expected` was expected.
function S.unexpected(vendor, what, value, expected)
  -- The answer may echo what was sent (a proxy quoting the request): its
  -- text and details are masked like any vendor error body.
  local details
  if type(value) == "table" then
    local ok, masked = pcall(function() return json.decode(http.redact(json.encode(value))) end)
    if ok then details = masked end
  end
  errors.raise(vendor, "validation", http.redact(string.format("%s answered %s where %s was expected; the API may have "
    .. "changed, or something other than %s answered (a proxy, a captive portal)", what, S.describe(value), expected,
    vendor)), {details = details})
end

--- A decoded answer that must be a JSON object, returned as it is; anything
--- else (a list, a number, null, a string) raises kind = "validation"
--- naming the request (`what`, e.g. "GET /v4/admin/limits").
function S.object(vendor, value, what)
  if type(value) == "table" and value[1] == nil then return value end
  S.unexpected(vendor, what, value, "a JSON object")
end

--- The list of objects in a decoded answer: the answer itself, or the first
--- of `keys` it holds ({"jobs": [...]}); an empty answer is an empty list.
--- Anything else raises kind = "validation" naming the request.
function S.list(vendor, value, what, keys)
  local list = value
  if type(value) == "table" and value[1] == nil and next(value) ~= nil then
    list = nil
    for _, k in ipairs(keys or {}) do
      if value[k] ~= nil then list = value[k]; break end
    end
  end
  if type(list) ~= "table" or (list[1] == nil and next(list) ~= nil) then
    S.unexpected(vendor, what, list == nil and value or list, "a JSON list")
  end
  for i, item in ipairs(list) do
    if type(item) ~= "table" or item[1] ~= nil then
      S.unexpected(vendor, what .. " (item " .. i .. ")", item, "a JSON object")
    end
  end
  return list
end

return S
