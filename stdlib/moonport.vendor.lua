--- moonport.vendor: what the five vendor bindings share, so
--- that each vendor's module (clari.lua, claravine.lua, ...) holds only what
--- is its own: endpoints, auth pieces, status words, limits, error bodies
--- and the exactly-once lookup.
---
---   local V = require "moonport.vendor"
---   local M, client_class = V.define{name = "clari", jobs = {...}, ...}
---
--- This module only gathers the shared pieces under one name; each lives
--- in a module of its own:
---   moonport.client   V.define: clients, credentials and profiles, requests,
---                     the error object of a failed request
---   moonport.job      the Job: status, refresh, wait, download, cancel, result,
---                     Jobs stored by state
---   moonport.poll     V.poll (waiting for Jobs), V.sleep_shown
---   moonport.create   V.create: a creating request sent exactly once
---   moonport.shape    V.object, V.list: the shape of a decoded answer
---   moonport.errors   V.error, V.raise, V.transient, V.outcome_unknown
---   moonport.args     the one argument checker (args.check, args.check_known),
---                     used by the bindings directly
---   moonport.records  V.file_size, V.count_csv_rows, V.count_lines
local errors = require "moonport.errors"
local shape = require "moonport.shape"
local client = require "moonport.client"
local job = require "moonport.job"
local poll = require "moonport.poll"
local create = require "moonport.create"
local records = require "moonport.records"

local V = {
  define = client.define,
  sandboxed = client.sandboxed,
  user_agent = client.user_agent,
  modules = client.modules,
  shortcut_of = client.shortcut_of,

  error = errors.error,
  raise = errors.raise,
  transient = errors.transient,
  verdict = errors.verdict,
  backoff = errors.backoff,
  outcome_unknown = errors.outcome_unknown,

  object = shape.object,
  list = shape.list,

  Job = job.Job,
  QUEUED = job.QUEUED, RUNNING = job.RUNNING, DONE = job.DONE, FAILED = job.FAILED, CANCELLED = job.CANCELLED,
  new_job = job.new_job,
  apply_status = job.apply_status,
  stale_job_error = job.stale_job_error,

  poll = poll.poll,
  sleep_shown = poll.sleep_shown,

  create = create.create,

  file_size = records.file_size,
  count_csv_rows = records.count_csv_rows,
  count_lines = records.count_lines,
}

-- The settings a script or a test may change (V.retry_attempts = 2) live in
-- the module that uses them: reading or setting them here reaches it.
local tunable = {
  retry_attempts = client,
  max_interval = poll,
  default_timeout = poll,
  create_attempts = create,
}

return setmetatable(V, {
  __index = function(_, k)
    local owner = tunable[k]
    if owner then return owner[k] end
  end,
  __newindex = function(t, k, v)
    local owner = tunable[k]
    if owner then owner[k] = v else rawset(t, k, v) end
  end,
})
