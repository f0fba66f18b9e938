--- moonport.run: what this run did, for `--summary FILE` (internal).
--- The vendor bindings count their requests here and register their Jobs;
--- workflow.run registers its workflows. At the end of the run (also after
--- a failure or a signal) moonport asks for the summary as JSON.
local json = require "json"
local activity = require "moonport.activity"

local R = {}

local vendors = {}   -- vendor -> {requests=, retries=, faults=, failed=}
local jobs = {}      -- the Jobs, in the order they were made
local seen = setmetatable({}, {__mode = "k"})
local workflows = {} -- the workflow objects, in the order they ran
local max_jobs = 10000

local function counts(vendor)
  local v = vendors[vendor]
  if v == nil then
    v = {requests = 0, retries = 0, faults = 0, failed = 0}
    vendors[vendor] = v
  end
  return v
end

--- One request of a vendor client: `attempts` it took (nil: 1), whether it
--- ended without an answer (`failed`), and the status of the answer (nil
--- when none came; a final 5xx or 429 counts as a failed request too).
function R.request(vendor, attempts, failed, status)
  local v = counts(vendor)
  attempts = math.tointeger(attempts) or 1
  v.requests = v.requests + 1
  v.retries = v.retries + math.max(0, attempts - 1)
  -- Each retry was made because an attempt met a fault (a 5xx, a 429, a
  -- dropped connection, a time-out); a final failure is one more.
  local bad = failed or (status ~= nil and (status >= 500 or status == 429))
  v.faults = v.faults + math.max(0, attempts - 1) + (bad and 1 or 0)
  if bad then v.failed = v.failed + 1 end
end

--- A Job made or brought back by a vendor binding (its status is read at the end).
function R.job(job)
  if seen[job] or #jobs >= max_jobs then return end
  seen[job] = true
  jobs[#jobs + 1] = job
end

--- A workflow of workflow.run (its steps are read at the end).
function R.workflow(wf)
  workflows[#workflows + 1] = wf
end

local function str(v)
  if v == nil then return nil end
  return tostring(v)
end

--- The summary as JSON. `facts`: what only the host knows (outcome,
--- exit_code, duration, started, error, run).
function R.summary_json(facts)
  local out = {}
  for k, v in pairs(facts) do out[k] = v end
  local vlist = {}
  local names = {}
  for name in pairs(vendors) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    local v = vendors[name]
    vlist[name] = {requests = v.requests, retries = v.retries, faults = v.faults, failed_requests = v.failed}
  end
  out.vendors = json.object(vlist)
  local jlist = {}
  for _, j in ipairs(jobs) do
    jlist[#jlist + 1] = {vendor = str(j.vendor), kind = str(j.kind), id = str(j.id), status = str(j.status),
      vendor_status = str(j.vendor_status), error = str(j.error)}
  end
  out.jobs = json.array(jlist)
  local steps = {}
  for _, wf in ipairs(workflows) do
    local ok, s = pcall(wf.summary, wf)
    if ok and type(s) == "table" then
      for _, step in ipairs(s.steps or {}) do
        steps[#steps + 1] = {workflow = s.name, name = step.name, status = step.status, duration = step.duration,
          error = step.error}
      end
    end
  end
  out.steps = json.array(steps)
  local up, down = activity.transfer()
  out.bytes = {up = up, down = down}
  return json.encode(out, {pretty = true, sort_keys = true})
end

return R
