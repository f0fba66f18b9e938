-- Push an NDJSON file of store visits into mediarithmics and report what was accepted.
-- The example of the shared docs, run from the repository: without an argument it
-- pushes scripts/examples/data/store-visits.ndjson (200 visits, 2 of them malformed).
--
--   moonport run --sandbox scripts/examples/activities-to-mediarithmics.lua [FILE.ndjson]
-- The push runs inside state.once: a rerun after a crash adopts the executions the
-- first run started instead of pushing the file again.
local mics, state = require "mediarithmics", require "state"
local here = (arg[0] or ""):match("^(.*)[/\\]") or "."
local path = arg[1] or (here .. "/data/store-visits.ndjson")
local import = mics.document_import({datamart = "1502", document_type = "USER_ACTIVITY",
  mime_type = "APPLICATION_X_NDJSON", encoding = "utf-8", name = "Store visits"})
local jobs = state.once("push " .. path .. " to import " .. import.id, function()
  return mics.submit("documents", import, path, {format = "ndjson"})  -- a path streams; split at 100 MB
end)
mics.poll(jobs)
local ok, failed = 0, 0
for _, j in ipairs(jobs) do
  local result = j.raw.data.result
  ok, failed = ok + result.total_success, failed + result.total_failure
end
print(string.format("%d accepted, %d rejected", ok, failed))
