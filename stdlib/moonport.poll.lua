--- moonport.poll: waiting for vendor Jobs. `poll` refreshes the jobs still
--- going, a few at a time, with a growing sleep between rounds, a progress
--- line, and a limit; `sleep_shown` is a wait of a binding shown the same way.
local moonport = require "moonport"
local task = require "task"
local log = require "log"
local activity = require "moonport.activity"
local args = require "moonport.args"
local errors = require "moonport.errors"
local J = require "moonport.job"

local P = {}
local Job = J.Job
local terminal = J.terminal

P.max_interval = 60
P.default_timeout = 4 * 3600

-- A refresh that fails this many times in a row (after the HTTP retries) ends the poll.
local refresh_failures_allowed = 5

--- vendor.poll(job_or_jobs [, {interval=, timeout=}]): refreshes until every
--- job is done, failed or cancelled; the wait grows from `interval` (2 s) to
--- 60 s and honours Retry-After. Raises job_failed when a job failed,
--- timeout after `timeout` seconds (4 h by default).
function P.poll(client, M, jobs, opts)
  local vendor = M.vendor
  local where = {vendor = vendor, fname = vendor .. ".poll"}
  args.check(where, "argument #1 (job or list of jobs)", jobs, "table")
  opts = args.options(where, 2, opts, {interval = true, timeout = true, quiet = true})
  local interval = args.check(where, "option 'interval'", opts.interval, "number > 0", true) or 2
  local timeout = args.check(where, "option 'timeout'", opts.timeout, "number > 0", true) or P.default_timeout
  local single = getmetatable(jobs) == Job
  local list = single and {jobs} or jobs
  for i, j in ipairs(list) do
    if getmetatable(j) ~= Job then
      args.fail(where, "item " .. i, "a Job", args.got(j))
    end
  end
  local started = moonport.now()
  local wait = interval
  local failures = {}
  local show = not opts.quiet and activity.mode ~= "off"
  local shown  -- the id of this wait's progress line
  local function progress_done()
    if shown then activity.finish(shown); shown = nil end
  end
  -- Whatever ends the wait (an error, Ctrl-C) takes its progress line away.
  local ok, e = xpcall(function()
  while true do
    local pending = {}
    for _, j in ipairs(list) do if not terminal[j.status] then pending[#pending + 1] = j end end
    -- Refresh what is still going, a few at a time.
    local retry_after = 0
    if #pending > 0 then
      task.map(pending, function(j)
        local ok, e = pcall(Job.refresh, j)
        if ok then
          failures[j] = nil
          if j._retry_after then retry_after = math.max(retry_after, j._retry_after) end
        else
          failures[j] = (failures[j] or 0) + 1
          if not errors.transient(e) or failures[j] >= refresh_failures_allowed then error(e, 0) end
          log.warn("%s: could not read the status of job %s (%s); trying again", vendor, tostring(j.id),
            type(e) == "table" and e.message or tostring(e))
        end
      end, {concurrency = math.min(8, #pending)})
    end
    local left, words = 0, {}
    for _, j in ipairs(list) do
      if not terminal[j.status] then
        left = left + 1
        local w = tostring(j.vendor_status or j.status)
        words[w] = (words[w] or 0) + 1
      end
    end
    if left == 0 then break end
    local elapsed = moonport.now() - started
    if show then
      local parts = {}
      for w, n in pairs(words) do parts[#parts + 1] = (#list > 1 and (n .. " ") or "") .. w end
      table.sort(parts)
      local what = #list == 1 and ("job " .. tostring(list[1].id)) or string.format("%d of %d jobs", left, #list)
      -- The host adds the elapsed time and redraws it every second (a
      -- plain line at least every minute when stderr is not a terminal).
      local text = string.format("%s: waiting for %s: %s", vendor, what, table.concat(parts, ", "))
      if shown then activity.update(shown, text)
      else shown = activity.begin(text, {vendor = vendor, job = #list == 1 and tostring(list[1].id) or nil}) end
    end
    if elapsed >= timeout then
      progress_done()
      local names = {}
      for _, j in ipairs(list) do
        if not terminal[j.status] and #names < 5 then names[#names + 1] = tostring(j.id) .. " " .. tostring(j.vendor_status) end
      end
      errors.raise(vendor, "timeout", string.format("%d of %d job(s) still not finished after %s (%s%s); poll again to keep waiting",
        left, #list, moonport.duration(elapsed), table.concat(names, ", "), left > #names and ", ..." or ""), {retryable = true})
    end
    local sleep = math.max(wait, retry_after)
    sleep = math.min(sleep, math.max(0.05, timeout - elapsed))
    task.sleep(sleep)
    wait = math.min(wait * 1.5, P.max_interval)
  end
  end, function(err)
    -- keeps where a raw Lua error happened (error objects carry their own)
    if type(err) == "table" then return err end
    return debug.traceback(tostring(err), 2)
  end)
  progress_done()
  if not ok then error(e, 0) end
  local failed = {}
  for _, j in ipairs(list) do if j.status == J.FAILED then failed[#failed + 1] = j end end
  if #failed > 0 then
    local first = failed[1]
    local msg = #list == 1 and string.format("job %s failed (%s): %s", tostring(first.id), tostring(first.vendor_status), tostring(first.error))
      or string.format("%d of %d jobs failed; job %s (%s): %s", #failed, #list, tostring(first.id), tostring(first.vendor_status), tostring(first.error))
    errors.raise(vendor, "job_failed", msg, {details = {failed = failed}, code = type(first.vendor_status) == "string" and first.vendor_status or nil})
  end
  return jobs
end

--- task.sleep(seconds) shown as a wait in progress (a redrawn line on a
--- terminal, plain lines otherwise: see --progress): for the waits of a
--- binding that are not polls (a free export slot, a quota). `fields`:
--- vendor, job, since (seconds waited already, shown in the elapsed time).
function P.sleep_shown(text, seconds, fields)
  fields = fields or {}
  local id = activity.mode ~= "off" and activity.begin(text, {vendor = fields.vendor, job = fields.job,
    since = fields.since}) or nil
  local ok, e = pcall(task.sleep, seconds)
  if id then activity.finish(id) end
  if not ok then error(e, 0) end
end

return P
