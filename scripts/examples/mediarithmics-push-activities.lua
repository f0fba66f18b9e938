-- Push an NDJSON file of user activities into a mediarithmics document import,
-- wait for every execution and report how many lines were accepted and rejected.
--
--   moonport run [--sandbox] scripts/examples/mediarithmics-push-activities.lua [FILE.ndjson] [DATAMART] [IMPORT NAME]
--
-- Defaults: scripts/examples/data/store-visits.ndjson, datamart 1502 (or
-- $MEDIARITHMICS_DATAMART), import "Store visits" (found by name, created
-- if the datamart has none). Files over 100 MB go as several executions.
--
-- Safe to rerun: the push is recorded in the state database (--state), so a
-- rerun after a crash, a timeout or a Ctrl-C does not push the file again; it
-- adopts what the first run sent and reports on those executions. A file is
-- known by its path, size and a fingerprint of its first and last 64 KiB.
-- Exit status 1 when some execution failed or was cancelled.
local mics = require "mediarithmics"
local state = require "state"
local log = require "log"

local here = (arg[0] or ""):match("^(.*)[/\\]") or "."
local path = arg[1] or (here .. "/data/store-visits.ndjson")
local datamart = arg[2] or os.getenv("MEDIARITHMICS_DATAMART") or "1502"
local name = arg[3] or "Store visits"

--- size, and FNV-1a (32 bits) of the first and last 64 KiB: cheap whatever the file's size.
local function fingerprint(file)
  local f = io.open(file, "rb")
  if not f then error("cannot read " .. file, 0) end
  local size = f:seek("end")
  local h = 0x811c9dc5
  local function mix(s)
    for i = 1, #s do h = ((h ~ s:byte(i)) * 0x01000193) & 0xffffffff end
  end
  f:seek("set", 0)
  mix(f:read(65536) or "")
  if size > 65536 then
    f:seek("set", math.max(65536, size - 65536))
    mix(f:read(65536) or "")
  end
  f:close()
  return size, string.format("%08x", h)
end

local size, sum = fingerprint(path)
local import = mics.document_import{datamart = datamart, document_type = "USER_ACTIVITY",
  mime_type = "APPLICATION_X_NDJSON", encoding = "utf-8", name = name}

local key = string.format("mediarithmics push-activities %s/%s %s %d bytes %s", datamart, import.id, path, size, sum)
local pushed_now = false
local jobs = state.once(key, function()
  pushed_now = true
  log.info("pushing %s (%d bytes) to import %s '%s' of datamart %s", path, size, import.id, import.name, datamart)
  return mics.submit("documents", import, path, {format = "ndjson"})
end)
if not pushed_now then
  log.info("%s was pushed by an earlier run (%d execution(s)); not sending it again, reporting on those", path, #jobs)
end

-- Wait for every execution; a failed one is reported below, not raised here.
local ok, err = pcall(mics.poll, jobs)
if not ok and err.kind ~= "job_failed" then error(err, 0) end

local accepted, rejected, bad = 0, 0, 0
for i, j in ipairs(jobs) do
  if j.raw == nil then j:refresh() end  -- jobs that state brought back carry no status response
  local result = type(j.raw.data.result) == "table" and j.raw.data.result or {}
  local yes, no = tonumber(result.total_success) or 0, tonumber(result.total_failure) or 0
  accepted, rejected = accepted + yes, rejected + no
  if j.status ~= "done" then bad = bad + 1 end
  local errors = type(result.error_file_uri) == "string" and (" (rejected lines: " .. result.error_file_uri .. ")") or ""
  local why = type(j.raw.data.error) == "table" and j.raw.data.error.message or nil
  print(string.format("part %d/%d: execution %s %s: %d accepted, %d rejected%s%s", i, #jobs, j.id, j.vendor_status,
    yes, no, errors, why and (": " .. why) or ""))
end
print(string.format("%s: %d accepted, %d rejected, in %d execution(s)%s", path, accepted, rejected, #jobs,
  pushed_now and "" or " (pushed by an earlier run)"))
if bad > 0 then error(string.format("%d of %d execution(s) did not succeed", bad, #jobs), 0) end
