-- One case of the vendor error-body corpus (scripts/reliability/run.py): a
-- cheap read call of one vendor binding, against the small HTTP server
-- run.py started on 127.0.0.1 (the vendor's *_BASE_URL points at it, dummy
-- credentials are in the vendor's environment variables).
--
--   moonport run scripts/reliability/vendor_errors.lua VENDOR [TIMEOUT]
--
-- The call runs in pcall; one line "RESULT {json}" says what came of it:
-- {ok = true, value = <the value, JSON-encoded, cut>, value_type = ...} or
-- {ok = false, error = {type, kind, status, vendor, code, retryable, message,
-- tostring, offset, has_details}}. run.py judges it (kind, status, vendor,
-- message, and that no credential shows anywhere). TIMEOUT, when given, makes
-- the call through vendor.client{timeout = TIMEOUT} (the cases where the
-- server never answers); otherwise through the module's function (its
-- default client).
local json = require "json"
local moonport = require "moonport"

local vendor, timeout = arg[1], tonumber(arg[2])
-- The cheap read call of each binding, and its arguments.
local calls = {
  clari = {"limits"},
  claravine = {"datasets"},
  quantive = {"sessions"},
  cordial = {"jobs", {page = 1}},  -- one page: one request (every page takes one more to see the end)
  mediarithmics = {"document_imports", "1502"},
}
local call = assert(calls[vendor], "usage: vendor_errors.lua clari|claravine|quantive|cordial|mediarithmics [TIMEOUT]")
local M = require(vendor)
local name = call[1]
local args = {table.unpack(call, 2)}

local run
if timeout then
  local client = M.client{timeout = timeout}
  run = function() return client[name](client, table.unpack(args)) end
else
  run = function() return M[name](table.unpack(args)) end
end

local t0 = moonport.now()
local ok, result = pcall(run)
local out = {ok = ok, seconds = moonport.now() - t0, call = vendor .. "." .. name}
if ok then
  out.value_type = type(result)
  local enc_ok, text = pcall(json.encode, result)
  out.value = enc_ok and text:sub(1, 500) or ("(not encodable: " .. tostring(text) .. ")")
else
  local e = result
  local info = {type = type(e)}
  local shown_ok, shown = pcall(tostring, e)
  info.tostring = shown_ok and shown or ("(tostring failed: " .. tostring(shown) .. ")")
  if type(e) == "table" then
    info.kind, info.status, info.vendor = e.kind, e.status, e.vendor
    info.code = e.code ~= nil and tostring(e.code) or nil
    info.retryable = e.retryable
    info.message = type(e.message) == "string" and e.message or nil
    info.offset = e.offset
    info.has_details = e.details ~= nil
  end
  out.error = info
end
print("RESULT " .. json.encode(out))
