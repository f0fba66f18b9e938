-- Driven by Tests/CLITests/KilledDownloadTests.swift (not a *_test.lua: it is
-- killed on purpose). Against a `moonport sim` that outlives it, it makes (or,
-- on a rerun, finds in the state database) a Job of KILL_VENDOR, waits for
-- it, then downloads it to KILL_OUT. With KILL_SLOW=1 the simulator answers
-- slowly from then on, so that the test can SIGKILL the run while the
-- temporary file of the download exists; without, it turns the faults off.
local t = require "testing"
local state = require "state"
local json = require "json"

local vendor, out = assert(os.getenv("KILL_VENDOR")), assert(os.getenv("KILL_OUT"))

local job
if vendor == "claravine" then
  local claravine = require "claravine"
  job = state.once("killed download: claravine", function()
    local tx = claravine.transactions("ds-campaigns", {start_date = "2000-01-01", end_date = "2100-01-01"})[1]
    return claravine.export("transaction", {dataset = "ds-campaigns", transaction = tx.uuid})
  end)
elseif vendor == "quantive" then
  local quantive = require "quantive"  -- loaded first: it brings its stored Job back
  job = state.once("killed download: quantive", function() return quantive.export("goals") end)
elseif vendor == "mediarithmics" then
  local mics = require "mediarithmics"
  job = state.once("killed download: mediarithmics", function()
    local imp = mics.document_import{datamart = "1502", document_type = "USER_ACTIVITY",
      mime_type = "APPLICATION_X_NDJSON", encoding = "utf-8", name = "Killed download"}
    local rows = {}
    for i = 1, 5 do
      rows[i] = {["$user_account_id"] = "user-" .. i, ["$type"] = "SITE_VISIT", ["$ts"] = 1700000000000 + i,
        ["$events"] = json.array({{["$event_name"] = "visit", ["$properties"] = {n = i}}})}
    end
    return mics.submit("documents", imp, rows)[1]
  end)
else
  error("KILL_VENDOR: claravine, quantive or mediarithmics, got " .. vendor)
end

job:wait()
t.sim_faults(os.getenv("KILL_SLOW") == "1" and "slow:1" or "")
local r = job:download(out)
print(string.format("downloaded %s: %d rows, %d bytes", r.path, r.rows, r.bytes))
