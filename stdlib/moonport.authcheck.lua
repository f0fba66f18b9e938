--- moonport.authcheck: what `moonport auth check [VENDOR...]` does. For each
--- vendor (those named, else those with a credential from any source), one
--- cheap authenticated read through the vendor's own binding (its client,
--- credential lookup and auth), and a line saying OK or what failed, where
--- each credential came from and which base URL was used. Never a value.
---
---   local check = require "moonport.authcheck"
---   local results = check.run({"clari"})   --> {{vendor=, status=, message=, base_url=, credentials=}, ...}
local V = require "moonport.vendor"

local A = {}

A.vendors = {"clari", "claravine", "quantive", "cordial", "mediarithmics"}

-- The read of each vendor: an authenticated GET that changes nothing.
A.reads = {
  clari = {path = "/v4/admin/limits"},
  claravine = {path = "/v1/datasets"},
  quantive = {path = "/v1/sessions"},
  cordial = {path = "/v2/jobs", query = {page = "1", per_page = "1"}},
  -- mediarithmics has no read without a datamart: the one named by
  -- MEDIARITHMICS_DATAMART (or `datamart` in the profile).
  mediarithmics = {
    path = function(c)
      local dm = c:setting("datamart", "MEDIARITHMICS_DATAMART")
      if dm == nil then return nil end
      return "/v1/datamarts/" .. dm .. "/document_imports"
    end,
    query = {first_result = "0", max_results = "1"},
    needs = "MEDIARITHMICS_DATAMART (a datamart the token can read)",
  },
}

local function message_of(e)
  if type(e) == "table" then return e.message or tostring(e) end
  return tostring(e)
end

--- Checks one vendor; returns {vendor=, status = "ok" | "missing" |
--- "refused" | "unreachable" | "error" | "unchecked", message=, base_url=,
--- base_url_source=, credentials = {{field=, env=, source=, optional=}}}.
function A.check(name)
  local M = require(name)
  local def = M._def
  local c = M.client()
  local r = {vendor = name, credentials = {}}
  local missing = {}
  for _, spec in ipairs(def.credentials) do
    local ok, source = pcall(c.setting_source, c, spec.field, spec.env)
    if not ok then
      r.status, r.message = "missing", message_of(source)
      return r
    end
    r.credentials[#r.credentials + 1] = {field = spec.field, env = spec.env, source = source, optional = spec.optional}
    if source == nil and not spec.optional then missing[#missing + 1] = spec.env end
  end
  local okb, base = pcall(c.base_url, c)
  if okb then
    r.base_url = base
    r.base_url_source = c:setting_source("base_url", def.base_env) or "default"
  end
  if #missing > 0 then
    r.status, r.message = "missing", "set " .. table.concat(missing, " and ")
      .. " (or add them to your credentials profile)"
    return r
  end
  if not okb then
    r.status, r.message = "missing", message_of(base)
    return r
  end
  local read = A.reads[name]
  local path = read.path
  if type(path) == "function" then path = path(c) end
  if path == nil then
    r.status, r.message = "unchecked", "credentials found; set " .. read.needs .. " to check them with a read"
    return r
  end
  local ok, e = pcall(c.request, c, "GET", path, {query = read.query, retry = {attempts = 2, base = 0.2, max = 1}, timeout = 20})
  if ok then
    r.status, r.message = "ok", "GET " .. path .. " answered " .. tostring(e.status)
    return r
  end
  local kind = type(e) == "table" and e.kind or nil
  if kind == "auth" then
    r.status = (e.status == 401 or e.status == 403) and "refused" or "missing"
  elseif V.transient(e) then
    r.status = "unreachable"
  else
    r.status = "error"
  end
  r.message = message_of(e)
  return r
end

--- The vendors to check: `names` (each validated), else every vendor with
--- at least one credential from any source, else all of them.
function A.select(names)
  if names and #names > 0 then
    for _, n in ipairs(names) do
      if not A.reads[n] then
        error(V.error("moonport", "usage", "auth check: unknown vendor '" .. tostring(n) .. "' (vendors: "
          .. table.concat(A.vendors, ", ") .. ")"), 0)
      end
    end
    return names
  end
  local out = {}
  for _, n in ipairs(A.vendors) do
    local M = require(n)
    local c = M.client()
    for _, spec in ipairs(M._def.credentials) do
      local ok, source = pcall(c.setting_source, c, spec.field, spec.env)
      if not ok or source ~= nil then out[#out + 1] = n break end
    end
  end
  if #out == 0 then return A.vendors end
  return out
end

--- Checks the vendors; returns the results, in order.
function A.run(names)
  local out = {}
  for _, n in ipairs(A.select(names)) do
    local ok, r = pcall(A.check, n)
    if not ok then r = {vendor = n, status = "error", message = message_of(r), credentials = {}} end
    out[#out + 1] = r
  end
  return out
end

local labels = {ok = "OK", missing = "MISSING", refused = "REFUSED", unreachable = "UNREACHABLE", error = "ERROR",
  unchecked = "UNCHECKED"}

--- The report: a line per vendor, then its credentials' sources and base URL.
function A.format(results)
  local lines = {}
  for _, r in ipairs(results) do
    lines[#lines + 1] = string.format("%-14s %-12s %s", r.vendor, labels[r.status] or r.status, r.message or "")
    for _, cr in ipairs(r.credentials) do
      lines[#lines + 1] = string.format("  %-24s %s", cr.env, cr.source
        or (cr.optional and "not set (optional)" or "not set"))
    end
    if r.base_url then
      lines[#lines + 1] = string.format("  %-24s %s (%s)", "base URL", r.base_url, r.base_url_source)
    end
  end
  return table.concat(lines, "\n")
end

--- The exit code: 3 when a credential is missing or refused, else 4 when a
--- vendor could not be reached, else 1 for another failure, else 0.
function A.exit_code(results)
  local worst = 0
  for _, r in ipairs(results) do
    if r.status == "missing" or r.status == "refused" then return 3 end
    if r.status == "unreachable" then worst = 4 end
    if r.status == "error" and worst == 0 then worst = 1 end
  end
  return worst
end

--- `moonport auth check`: prints the report, returns the exit code.
function A.main(names)
  local results = A.run(names)
  print(A.format(results))
  return A.exit_code(results)
end

return A
