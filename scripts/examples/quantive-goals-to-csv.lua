-- Export every goal of the current Quantive session (the quarter we are in)
-- to a CSV file, one row a goal.
--
--   moonport run --sandbox scripts/examples/quantive-goals-to-csv.lua [OUT.csv]
--
-- Under --sandbox the built-in simulator answers. Against Quantive itself,
-- drop --sandbox and set QUANTIVE_API_TOKEN and QUANTIVE_ACCOUNT_ID (and
-- QUANTIVE_REGION=us for an account on the US host).
local quantive = require "quantive"

local out = arg[1] or "goals.csv"

-- The current session: the one whose dates cover today, else the open one.
local today = os.date("!%Y-%m-%dT%H:%M:%S")
local current
for _, s in ipairs(quantive.sessions()) do
  local covers = type(s.start) == "string" and type(s["end"]) == "string" and s.start <= today and today <= s["end"]
  if covers or (current == nil and s.status == "open") then current = s end
end
if not current then error("no current session in this Quantive account", 0) end

-- Every goal of that session, every page; the file's extension picks CSV.
local job = quantive.export("goals", {filter = {sessionId = current.id}, sort = "name"})
local r = job:download(out)
print(string.format("%s: %d goals of session %s (%d bytes)", r.path, r.rows, tostring(current.title), r.bytes))
