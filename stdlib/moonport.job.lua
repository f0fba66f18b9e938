--- moonport.job: the Job (work a vendor does on its side) and waiting for
--- it: status from the vendor's answers, refresh, wait, download, cancel,
--- result, poll with backoff and a progress line, and the Jobs that come
--- back from the state store. Each vendor gives the functions of its kinds
--- of Job in V.define's `jobs`: {[kind] = {status_of=, refresh=, download=,
--- cancel=, result=}} (or jobs.default):
---   status_of(raw, job)          -> the vendor's status word, and for a failure its message
---   refresh(client, job)         -> the decoded status response, and its headers
---   download(client, job, path)  -> {path=, bytes=, rows=}
---   cancel(client, job)          (asks the vendor to cancel it)
---   result(client, job)          -> the decoded result
local log = require "log"
local state = require "state"
local run = require "moonport.run"
local args = require "moonport.args"
local errors = require "moonport.errors"

local J = {}

--- Work a vendor does on its side (an export, a transaction, an execution,
--- an ingestion): what `vendor.export` and `vendor.submit` return. Its
--- status moves from "queued" and "running" to "done", "failed" or
--- "cancelled"; `job:wait()` follows it. `state.set` and `state.once` store
--- Jobs and give them back alive, bound to their vendor's default client.
---@class moonport.Job
---@field id string                 the vendor's id of the job
---@field vendor string             the vendor: "clari", "claravine", "quantive", "cordial" or "mediarithmics"
---@field kind string               what it is, per vendor: "forecast", "activity", "audit_events", "ingest_bulk", "data", "transaction", "goals", "goal", "audience_trends", "contacts", "export", "documents"
---@field status "queued"|"running"|"done"|"failed"|"cancelled"  moonport's status, the same words for every vendor
---@field vendor_status string|nil  the vendor's own status word ("SCHEDULED", "Pending", "RUNNING", ...); nil before the first status is read
---@field raw table|nil             the last decoded status response
---@field error string|nil          why it failed (the vendor's message), when status is "failed"
---@field ref table                 what the vendor needs besides the id to find the job again (a dataset, an import, a destination, the format); plain values only, stored by `state`
local Job = {}  -- the Job class (below)

-- Values of the Job status field.
J.QUEUED, J.RUNNING, J.DONE, J.FAILED, J.CANCELLED = "queued", "running", "done", "failed", "cancelled"
local terminal = {done = true, failed = true, cancelled = true}
-- The status values a job ends with.
J.terminal = terminal

---------------------------------------------------------------------------
-- Jobs
---------------------------------------------------------------------------

Job.__index = Job
Job.__name = "moonport.Job"
J.Job = Job

local job_client = setmetatable({}, {__mode = "k"})
local job_module = setmetatable({}, {__mode = "k"})

function Job.__tostring(j)
  return string.format("%s %s job %s (%s%s)", j.vendor, j.kind, tostring(j.id), j.status,
    j.vendor_status and (", " .. tostring(j.vendor_status)) or "")
end

--- A Job: id, vendor, kind, status, vendor_status, raw, error; `ref` holds
--- what the vendor needs besides the id to find it again (a dataset, an
--- import, a destination); plain values only, it is stored by `state`.
function J.new_job(client, M, kind, id, ref, raw)
  local j = setmetatable({id = id, vendor = M.vendor, kind = kind, status = J.QUEUED, ref = ref or {}}, Job)
  job_client[j], job_module[j] = client, M
  if raw ~= nil then J.apply_status(j, raw) end
  run.job(j)
  return j
end

-- The functions of the job's kind (V.define's jobs[kind], or jobs.default),
-- the vendor's definition and module.
local function kind_of(j)
  local M = job_module[j]
  local def = M._def
  return def.jobs[j.kind] or def.jobs.default or {}, def, M
end

--- Sets status and vendor_status from a status response `raw`; the vendor's
--- `status_of(raw)` hook gives the word (and, for a failure, the message).
function J.apply_status(j, raw)
  local h, def = kind_of(j)
  j.raw = raw
  local word, message = h.status_of(raw, j)
  j.vendor_status = word
  local status = def.statuses[word]
  if status == nil and word ~= nil then
    status = J.RUNNING
    if not j._warned then
      j._warned = true
      log.warn("%s: job %s has a status moonport does not know ('%s'); treated as still running", j.vendor, tostring(j.id), tostring(word))
    end
  end
  j.status = status or J.RUNNING
  if j.status == J.FAILED then
    j.error = message or ("the job ended " .. tostring(word))
  end
  return j
end

--- Asks the vendor for the job's status now (one request) and sets
--- `status`, `vendor_status`, `raw` and `error` from the answer. A status
--- word moonport does not know counts as "running" (with a warning).
--- Raises the vendor's error object when the request fails.
---@return moonport.Job job  the job itself
function Job:refresh()
  local h = kind_of(self)
  local ok, raw, headers = pcall(h.refresh, job_client[self], self)
  if not ok then error(J.stale_job_error(self, raw), 0) end
  J.apply_status(self, raw)
  self._retry_after = headers and tonumber(headers["retry-after"]) or nil
  return self
end

--- Waits until the job is done, failed or cancelled: the same as
--- `vendor.poll(job, opts)`, refreshing it with a growing interval (from
--- `opts.interval`, 2 s, to 60 s; Retry-After is honoured).
--- Raises kind = "job_failed" with the vendor's message if the job failed,
--- "timeout" after `opts.timeout` seconds (4 h by default), "validation"
--- for a bad option. A cancelled job is returned, not raised.
---   local job = clari.export("forecast", {...}):wait()
---@param opts? {interval?: number, timeout?: number, quiet?: boolean}  first interval and time limit (seconds); quiet: no progress line
---@return moonport.Job job  the job itself, ended
function Job:wait(opts)
  if getmetatable(self) ~= Job then
    -- job.wait() / job.wait{...}: called with a dot, `self` is not the job.
    args.raise("usage", "job.wait: call it as job:wait() (with a colon), on the Job itself")
  end
  return require("moonport.poll").poll(job_client[self], job_module[self], self, opts)
end

--- Writes the job's result to `path` and says what was written; waits for
--- the job first (as job:wait()) when it has not ended. The file is written
--- through a temporary file and renamed, so `path` never holds half a file.
--- What is written depends on the vendor: Clari the export's file (JSON or
--- CSV); Claravine the transaction as CSV or JSON (by the extension);
--- Quantive the goals as NDJSON, CSV or JSON (by the extension); Cordial
--- the export read back from its s3/aws destination; mediarithmics the
--- execution's final record as JSON.
--- Raises kind = "usage" when the job ended failed or cancelled, or when
--- it has nothing to download (Clari ingestion jobs, Quantive created
--- goals, a Cordial export to another destination type); "validation" when
--- `path` is not a string; "job_failed" when the wait ends in a failure.
---@param path string  the file to write
---@return {path: string, bytes: integer, rows: integer|nil} written  the file, its size in bytes, its data rows where known
function Job:download(path)
  local h, def = kind_of(self)
  local where = {vendor = def.name, fname = "job:download"}
  args.check(where, "argument #1 (path)", path, "string")
  if not h.download then
    errors.raise(def.name, "usage", string.format("%s %s jobs have nothing to download", def.name, self.kind))
  end
  if self.status ~= J.DONE then
    if terminal[self.status] then
      errors.raise(def.name, "usage", string.format("job %s ended %s (%s); there is nothing to download",
        tostring(self.id), self.status, tostring(self.vendor_status)))
    end
    self:wait()
  end
  local ok, written = pcall(h.download, job_client[self], self, path)
  if not ok then error(J.stale_job_error(self, written), 0) end
  return written
end

--- Asks the vendor to cancel the job, then refreshes it (a failed refresh
--- is ignored). Clari export jobs and mediarithmics executions can be
--- cancelled; other jobs raise kind = "usage". The vendor's refusal is
--- raised (Clari answers 400 for a job already DONE).
---@return moonport.Job job  the job itself
function Job:cancel()
  local h, def = kind_of(self)
  if not h.cancel then
    errors.raise(def.name, "usage", string.format("%s %s jobs cannot be cancelled through the API", def.name, self.kind))
  end
  h.cancel(job_client[self], self)
  pcall(Job.refresh, self)
  return self
end

--- The job's result, decoded from JSON, read from the vendor; waits for the
--- job first (as job:wait()) unless it is done. Clari exports: the decoded
--- result file (a CSV export raises kind = "validation": it is not JSON);
--- Claravine transactions: {fields=, rows=}; Quantive goals exports: the
--- list of goals, created goals: the goal; mediarithmics executions:
--- {total_success=, total_failure=, error_file_uri=}.
--- Raises kind = "usage" for jobs without a JSON result (Clari ingestion
--- jobs, Cordial exports), "job_failed" when the wait ends in a failure.
---@return any result  the decoded result
function Job:result()
  local h, def = kind_of(self)
  if not h.result then
    errors.raise(def.name, "usage", string.format("%s %s jobs have no JSON result", def.name, self.kind))
  end
  if self.status ~= J.DONE then self:wait() end
  return h.result(job_client[self], self)
end

-- Where each Job that came back from the state store was stored:
-- {key=, kind = "once" | "set", path=}.
local job_origin = setmetatable({}, {__mode = "k"})

-- A word for the shell: 'as is' when plain, else single-quoted.
local function shell_word(s)
  if s:match("^[%w%._/:@%%+=,-]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- The error of a refresh: `e` itself, unless the job came back from the
--- state store and the vendor answered 404 (it expired the job, or the
--- simulator restarted; Clari: 400 invalid_jobId): then the message names the state key, the
--- database and the `moonport state forget` command that lets the next run
--- do that step afresh.
function J.stale_job_error(j, e)
  local origin = job_origin[j]
  if type(e) ~= "table" or not origin then return e end
  -- 404 / 410; Clari's API answers 400 invalid_jobId (results) or its generic
  -- 400 SWW (the job itself) for a job it does not know.
  local code = type(e.code) == "string" and e.code:lower() or nil
  local gone = e.status == 404 or e.status == 410
    or (e.status == 400 and (code == "invalid_jobid" or (j.vendor == "clari" and code == "sww")))
  if not gone then return e end
  local by = origin.kind == "once" and ("state.once(%q)"):format(origin.key) or ("state.set(%q, ...)"):format(origin.key)
  local fields = {}
  for k, v in pairs(e) do if k ~= "message" and k ~= "kind" then fields[k] = v end end
  fields.state_key, fields.state_path = origin.key, origin.path
  return errors.error(j.vendor, e.kind or "http", string.format(
    "%s job %s, stored by %s in the state database %s, no longer exists at %s (%s): the vendor expired it, "
    .. "or it was made by a simulator that has since restarted. To start that step afresh on the next run: "
    .. "moonport state --state %s forget %s",
    j.kind, tostring(j.id), by, origin.path, j.vendor, e.message or "404", shell_word(origin.path),
    shell_word(origin.key)), fields)
end

-- Jobs stored by state come back alive, bound to their vendor's default client.
state.register_class("moonport.Job", Job, {
  dump = function(j)
    return {vendor = j.vendor, kind = j.kind, id = j.id, ref = j.ref, status = j.status, vendor_status = j.vendor_status}
  end,
  load = function(d, origin)
    local M = require("moonport.client").modules[d.vendor] or require(d.vendor)
    local j = J.new_job(M.default_client(), M, d.kind, d.id, d.ref)
    j.status, j.vendor_status = d.status, d.vendor_status
    job_origin[j] = origin
    return j
  end,
})

--- Adds the Job methods of a vendor's client (job, poll, download); called
--- by V.define.
function J.add_client_methods(M, Client)
  --- A Job of this vendor made from its parts and bound to this client;
  --- nothing is sent. The bindings make their Jobs with it; a script can
  --- rebuild a Job from an id it kept (with the `ref` the vendor needs).
  --- `raw`, when given, is a status response that sets the status.
  ---@param kind string  the job's kind ("forecast", "data", "documents", ...)
  ---@param id string    the vendor's id of the job
  ---@param ref? table   what the vendor needs besides the id (see moonport.Job)
  ---@param raw? table   a status response to take the status from
  ---@return moonport.Job job  a new Job ("queued" when raw is nil)
  function Client:job(kind, id, ref, raw)
    return J.new_job(self, M, kind, id, ref, raw)
  end

  --- Waits until every job given is done, failed or cancelled.
  --- The jobs still going are refreshed (up to 8 at a time), with a sleep
  --- between rounds that starts at `opts.interval` (2 s) and grows to 60 s,
  --- longer when the vendor asks (Retry-After). On a terminal a progress
  --- line shows the wait (`quiet = true` hides it). A status read that fails
  --- for a passing reason (network, timeout, 429, 5xx) is tried again, up
  --- to 5 times in a row for a job.
  --- Raises kind = "job_failed" once every job has ended if any failed (the
  --- vendor's message, `code` its status word, `details.failed` the failed
  --- Jobs); "timeout" after `opts.timeout` seconds (4 h by default; the jobs
  --- go on at the vendor: poll again to keep waiting); "validation" for a
  --- bad argument or option. A cancelled job is not an error.
  ---   clari.poll(jobs, {interval = 5, timeout = 3600})
  ---@param jobs moonport.Job|moonport.Job[]  a Job or a list of Jobs
  ---@param opts? {interval?: number, timeout?: number, quiet?: boolean}  first interval and time limit (seconds); quiet: no progress line
  ---@return moonport.Job|moonport.Job[] jobs  the argument, every job in it ended
  function Client:poll(jobs, opts) return require("moonport.poll").poll(self, M, jobs, opts) end
  --- Writes a job's result to `path`: the same as `job:download(path)`
  --- (waits for the job first; see moonport.Job:download for what is
  --- written). Raises kind = "validation" when `job` is not a Job, and as
  --- job:download does.
  ---@param job moonport.Job  a Job of this vendor
  ---@param path string        the file to write
  ---@return {path: string, bytes: integer, rows: integer|nil} written  the file, its size in bytes, its data rows where known
  function Client:download(job, path)
    if getmetatable(job) ~= Job then
      args.fail({vendor = M.vendor, fname = M.vendor .. ".download"}, "argument #1 (job)", "a Job", args.got(job))
    end
    return job:download(path)
  end
end

return J
