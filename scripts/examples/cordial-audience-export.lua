-- Export last month's daily audience trends from Cordial to an S3 bucket,
-- wait for Cordial to finish, then read the file back and print it.
--
--   moonport run --sandbox scripts/examples/cordial-audience-export.lua [OUT.csv]
--
-- Under --sandbox the built-in simulator answers, and its S3 store takes any
-- bucket and keys. Against Cordial itself, drop --sandbox and set
-- CORDIAL_API_KEY, and the bucket Cordial writes to: CORDIAL_S3_BUCKET,
-- AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY.
--
-- The export is started inside state.once: a rerun (after a crash, or just
-- to fetch the file again) adopts the job instead of exporting twice.
local cordial = require "cordial"
local state = require "state"
local csv = require "csv"

local out = arg[1] or "audience-trends.csv"
local sandbox = os.getenv("MOONPORT_SANDBOX") == "1"
local function setting(name, sandbox_value)
  local v = os.getenv(name)
  if v and v ~= "" then return v end
  if sandbox then return sandbox_value end
  error("set " .. name, 0)
end

-- Last month, first to last day (UTC).
local now = os.date("!*t")
local first = os.time{year = now.year, month = now.month - 1, day = 1, hour = 12}
local last = os.time{year = now.year, month = now.month, day = 0, hour = 12}
local start, stop = os.date("!%Y-%m-%d", first), os.date("!%Y-%m-%d", last)
local name = "audience-trends-" .. os.date("!%Y-%m", first)  -- export names: letters, digits, dashes

local job = state.once("cordial " .. name, function()
  return cordial.export("audience_trends", {
    name = name,
    audiences = {"VIP customers", "Newsletter subscribers"},
    start = start,
    stop = stop,
    destination = {
      type = "s3",
      aws_bucket = setting("CORDIAL_S3_BUCKET", "moonport-sandbox-exports"),
      aws_region = setting("AWS_REGION", "us-east-1"),
      aws_access_key_id = setting("AWS_ACCESS_KEY_ID", "sandbox-access-key"),
      aws_secret_access_key = setting("AWS_SECRET_ACCESS_KEY", "sandbox-secret-key"),
      path = "cordial/audience-trends",
    },
  })
end)

job:wait()  -- Pending -> Processing -> Done; raises if Cordial reports Failed
local ok, r = pcall(job.download, job, out)
if not ok then
  if type(r) ~= "table" or r.kind ~= "usage" then error(r, 0) end
  -- This moonport cannot read the file back: the message says where it is.
  print(r.message)
  print(string.format("%s: Cordial exported %d audiences (%s to %s)", name, job.raw.totalItems, start, stop))
  return
end
-- The file has a row per audience and a column per day of the timeframe:
-- audience,2024-05-01,2024-05-02,... Print each audience's first and last day.
local rows = csv.read(out, {header = false})
local header = rows()
for row in rows do
  print(string.format("%-24s %s: %s  ...  %s: %s", row[1], header[2], row[2], header[#header], row[#row]))
end
print(string.format("%s: %d audiences, %d days, %d bytes (%s to %s)", r.path, r.rows, #header - 1, r.bytes, start, stop))
