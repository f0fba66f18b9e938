--- workflow: named, timed steps and a summary table at the end, on stderr
--- (stdout stays the script's output).
---
---   local workflow = require "workflow"
---   workflow.run("forecast to claravine", function(wf)
---     local job = wf:step("export", function()
---       return clari.export("forecast", {forecast_id = "net_new", time_period = "2024_Q1"})
---     end, {once = "export 2024_Q1"})          -- resumable: a rerun shows it as "resumed"
---     wf:step("wait", function() job:wait() end)
---     wf:step("load", function()
---       local jobs = claravine.submit("data", "ds-forecasts", {...})
---       wf:count("rows sent", n)                -- a note on the running step
---     end)
---   end)
---
--- prints, when the function returns or raises:
---
---   workflow "forecast to claravine": ok in 14.2 s
---     step    status   duration  notes
---     export  resumed  0.00 s
---     wait    ok       12.1 s
---     load    ok       2.10 s    rows sent: 2500
---
--- A step that raises is marked failed and its error goes on unchanged (the
--- same error object, so the exit code and message are those of the failing call).
local moonport = require "moonport"
local state = require "state"

local workflow = {}

--- What workflow.run passes to its function: wf:step, wf:skip, wf:count,
--- wf:note while it runs; wf:summary and wf:report at any time.
---@class workflow.Workflow
local Workflow = {}
Workflow.__index = Workflow
workflow.Workflow = Workflow

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

local args = require "moonport.args"
local raise, check = args.raise, args.check

-- Steps and workflow.run re-raise a failure unchanged, which would make the
-- traceback start at the re-raise: an error object keeps where it was first
-- raised in its `traceback` field (moonport prints it below its own).
local function keep_traceback(e)
  if type(e) == "table" and rawget(e, "traceback") == nil then
    rawset(e, "traceback", debug.traceback("where the error was raised:", 2))
  end
  return e
end

local function check_self(self, method)
  if getmetatable(self) ~= Workflow then
    raise("usage", string.format("workflow: call it as wf:%s(...) (with a colon), on the wf that workflow.run gives", method))
  end
  if self._finished then
    raise("usage", string.format("workflow: wf:%s(...) after the workflow \"%s\" has finished", method, self.name))
  end
end

-- One line of an error, for the table.
local function error_text(e)
  if type(e) == "table" and e.message ~= nil then
    local kind = e.kind and (tostring(e.kind) .. ": ") or ""
    return kind .. tostring(e.message)
  end
  return tostring(e)
end

---------------------------------------------------------------------------
-- Counts and notes
---------------------------------------------------------------------------

-- The key of the table a resumable step stores its counts in, before its results.
local counts_mark = "$workflow.counts"

local function new_record(name)
  return {name = name, counts = {}, order = {}, notes = {}}
end

local function add_count(rec, label, n)
  if rec.counts[label] == nil then
    rec.order[#rec.order + 1] = label
    rec.counts[label] = 0
  end
  rec.counts[label] = rec.counts[label] + n
  return rec.counts[label]
end

-- Where a count or a note goes: the most recently started step still running,
-- or the workflow itself.
local function target(self)
  return self._open[#self._open] or self._own
end

local function close_step(self, step)
  for i = #self._open, 1, -1 do
    if self._open[i] == step then table.remove(self._open, i); break end
  end
  step.duration = moonport.now() - step.started
end

---------------------------------------------------------------------------
-- Steps
---------------------------------------------------------------------------

--- Runs fn() as the step `name`: times it and returns what fn returns. When
--- fn raises, the step is marked failed and the error is raised again
--- unchanged. With `{once = KEY}` the step runs through state.once(KEY, ...):
--- on a rerun with the same state database it does not run again, returns
--- the stored results (Jobs come back alive) and shows as "resumed", with
--- the counts the first run made in it. The key is the step's own (what it
--- stores starts with its counts); one stored by a plain state.once(KEY, fn)
--- is resumed from as well.
---   local job = wf:step("export", function() return clari.export("forecast", p) end, {once = "export " .. q})
---@param name string     what the step is called in the summary
---@param fn fun():...    the step's work
---@param opts? table     {once = KEY}: make the step resumable under KEY
---@return any ...        what fn returned (or, resumed, what it returned the first time)
function Workflow:step(name, fn, opts)
  check_self(self, "step")
  check("wf:step", "argument #1 (name)", name, "non-empty string")
  check("wf:step", "argument #2 (fn)", fn, "function")
  opts = args.options("wf:step", 3, opts, {once = true})
  check("wf:step", "option 'once'", opts.once, "non-empty string", true)

  local step = new_record(name)
  step.status, step.started, step.once = "running", moonport.now(), opts.once
  self._steps[#self._steps + 1] = step
  self._open[#self._open + 1] = step

  local r, first
  if opts.once then
    local ran = false
    r = table.pack(xpcall(state.once, keep_traceback, opts.once, function()
      ran = true
      local out = table.pack(fn())
      -- The step's counts are stored before its results, to show on a rerun.
      local counts = {}
      for i, label in ipairs(step.order) do counts[i] = {label, step.counts[label]} end
      return {[counts_mark] = counts}, table.unpack(out, 1, out.n)
    end))
    first = 2
    local stored = r[1] and type(r[2]) == "table" and rawget(r[2], counts_mark)
    if stored then first = 3 end
    if r[1] and not ran then
      -- A key that a plain state.once stored (no counts first) resumes too.
      step.status = "resumed"
      for _, pair in ipairs(type(stored) == "table" and stored or {}) do
        if type(pair[1]) == "string" and type(pair[2]) == "number" then add_count(step, pair[1], pair[2]) end
      end
    end
  else
    r = table.pack(xpcall(fn, keep_traceback))
    first = 2
  end
  close_step(self, step)
  if not r[1] then
    step.status, step.error = "failed", r[2]
    error(r[2], 0)
  end
  if step.status == "running" then step.status = "ok" end
  return table.unpack(r, first, r.n)
end

--- Records the step `name` as skipped (it does not run), with the reason
--- shown in the summary.
---   if #rows == 0 then wf:skip("load", "no rows") else wf:step("load", load) end
---@param name string      the step's name
---@param reason? string   why it was skipped
function Workflow:skip(name, reason)
  check_self(self, "skip")
  check("wf:skip", "argument #1 (name)", name, "non-empty string")
  check("wf:skip", "argument #2 (reason)", reason, "string", true)
  local step = new_record(name)
  step.status = "skipped"
  if reason then step.notes[1] = reason end
  self._steps[#self._steps + 1] = step
end

--- Adds n (default 1) to the count `label` of the running step (the one
--- most recently started that has not ended), or of the workflow itself
--- outside any step. Counts show as "label: n" in the summary.
---   wf:count("rows sent", #chunk)
---@param label string   what is counted
---@param n? number      how much to add (default 1)
---@return number        the new total of that count
function Workflow:count(label, n)
  check_self(self, "count")
  check("wf:count", "argument #1 (label)", label, "non-empty string")
  check("wf:count", "argument #2 (n)", n, "number", true)
  return add_count(target(self), label, n or 1)
end

--- Adds a line of text to the notes of the running step (or of the
--- workflow itself outside any step), shown in the summary.
---@param text string   the note
function Workflow:note(text)
  check_self(self, "note")
  check("wf:note", "argument #1 (text)", text, "string")
  local rec = target(self)
  rec.notes[#rec.notes + 1] = text
end

---------------------------------------------------------------------------
-- Summary
---------------------------------------------------------------------------

local function copy_counts(rec)
  local out = {}
  for _, label in ipairs(rec.order) do out[label] = rec.counts[label] end
  return out
end

local function copy_list(t)
  local out = {}
  for i, v in ipairs(t) do out[i] = v end
  return out
end

--- The summary as plain data: {name=, status= ("running", "ok" or
--- "failed"), duration= (seconds, so far while running), error= (the
--- message, when failed), counts= {label = n}, notes= {...}, steps=
--- {{name=, status= ("running", "ok", "failed", "resumed", "skipped"),
--- duration=, counts=, notes=, once=, error=}, ...}} in the order the steps started.
---@return table   the summary
function Workflow:summary()
  if getmetatable(self) ~= Workflow then
    raise("usage", "workflow: call it as wf:summary() (with a colon)")
  end
  local now = moonport.now()
  local steps = {}
  for i, s in ipairs(self._steps) do
    steps[i] = {
      name = s.name, status = s.status, once = s.once,
      duration = s.duration or (s.started and now - s.started) or nil,
      counts = copy_counts(s), notes = copy_list(s.notes),
      error = s.error ~= nil and error_text(s.error) or nil,
    }
  end
  return {
    name = self.name, status = self._status,
    duration = self._duration or (now - self._started),
    error = self._error ~= nil and error_text(self._error) or nil,
    counts = copy_counts(self._own), notes = copy_list(self._own.notes),
    steps = steps,
  }
end

-- Under a minute with a fraction (a step is often quick); from a minute on,
-- as moonport's progress line writes it ("3 min 05 s", "1 h 02 min").
local function human(seconds)
  if seconds == nil then return "-" end
  if seconds < 10 then return string.format("%.2f s", seconds) end
  if seconds < 60 then return string.format("%.1f s", seconds) end
  return moonport.duration(seconds)
end

local function number_text(n)
  if math.type(n) == "integer" or n == math.floor(n) and math.abs(n) < 2^53 then
    return string.format("%d", math.tointeger(n) or n)
  end
  return string.format("%.6g", n)
end

workflow.note_width = 100

local function notes_text(s)
  local parts = {}
  -- Counts in the order they were first made.
  for _, label in ipairs(s.order) do parts[#parts + 1] = label .. ": " .. number_text(s.counts[label]) end
  for _, note in ipairs(s.notes) do parts[#parts + 1] = note end
  if s.error ~= nil then parts[#parts + 1] = error_text(s.error) end
  local text = table.concat(parts, "; "):gsub("[\r\n]+", " ")
  if #text > workflow.note_width then text = text:sub(1, workflow.note_width - 3) .. "..." end
  return text
end

--- The summary as the text table workflow.run prints at the end: a title
--- line (name, status, total time), then one line per step: step | status
--- | duration | notes (counts, notes, the error of a failed step).
---@return string   the table, lines ending in "\n"
function Workflow:report()
  if getmetatable(self) ~= Workflow then
    raise("usage", "workflow: call it as wf:report() (with a colon)")
  end
  local sum = self:summary()
  local rows = {{"step", "status", "duration", "notes"}}
  for i, s in ipairs(self._steps) do
    local shown = sum.steps[i]
    rows[#rows + 1] = {s.name, s.status, s.status == "skipped" and "-" or human(shown.duration), notes_text(s)}
  end
  local own = notes_text(self._own)
  if own ~= "" then rows[#rows + 1] = {"(workflow)", "", "", own} end
  local widths = {0, 0, 0}
  for _, r in ipairs(rows) do
    for c = 1, 3 do widths[c] = math.max(widths[c], #r[c]) end
  end
  local failed = 0
  for _, s in ipairs(self._steps) do if s.status == "failed" then failed = failed + 1 end end
  local lines = {string.format("workflow \"%s\": %s in %s%s", self.name, sum.status, human(sum.duration),
    (sum.status == "ok" and failed > 0) and string.format(" (%d step%s failed and %s handled)", failed,
      failed == 1 and "" or "s", failed == 1 and "was" or "were") or "")}
  for _, r in ipairs(rows) do
    local line = string.format("  %-" .. widths[1] .. "s  %-" .. widths[2] .. "s  %-" .. widths[3] .. "s  %s",
      r[1], r[2], r[3], r[4])
    lines[#lines + 1] = (line:gsub("%s+$", ""))
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- run
---------------------------------------------------------------------------

--- Runs fn(wf) as the workflow `name` and prints its summary table to
--- stderr when fn returns or raises (`{print = false}` keeps it quiet; the
--- table is then still there in wf:summary() and wf:report()). Returns what
--- fn returns; an error of fn is raised again unchanged after the table is
--- printed, so the exit code and message stay those of the failing call.
---   workflow.run("nightly load", function(wf) wf:step("export", export) end)
---@param name string                     the workflow's name, in the title line
---@param fn fun(wf:workflow.Workflow):...   the work; wf:step, wf:count, wf:note, wf:skip inside
---@param opts? table                     {print = false} not to print the table
---@return any ...                        what fn returned
function workflow.run(name, fn, opts)
  check("workflow.run", "argument #1 (name)", name, "non-empty string")
  check("workflow.run", "argument #2 (fn)", fn, "function")
  opts = args.options("workflow.run", 3, opts, {print = true})
  check("workflow.run", "option 'print'", opts.print, "boolean", true)
  local wf = setmetatable({
    name = name, _status = "running", _started = moonport.now(),
    _steps = {}, _open = {}, _own = new_record(name),
  }, Workflow)
  require("moonport.run").workflow(wf)  -- its steps go into the --summary file
  local r = table.pack(xpcall(fn, keep_traceback, wf))
  wf._duration = moonport.now() - wf._started
  wf._status = r[1] and "ok" or "failed"
  if not r[1] then
    wf._error = r[2]
    -- An error raised outside any step shows on the workflow's own line.
    local shown = false
    for _, s in ipairs(wf._steps) do
      if rawequal(s.error, r[2]) then shown = true end
    end
    if not shown then wf._own.error = r[2] end
  end
  -- Steps left running (their fn never returned, as when a task was cut short).
  for _, s in ipairs(wf._open) do
    s.status, s.duration = "failed", moonport.now() - s.started
  end
  wf._open = {}
  wf._finished = true
  if opts.print ~= false then
    if moonport.stderr_is_terminal then moonport.progress("") end
    -- Error messages and notes may quote a secret: masked like every log line.
    if require("moonport.activity").log_format == "json" then
      moonport.log(r[1] and "info" or "error", (wf:report():gsub("\n$", "")))  -- one JSON line
    else
      io.stderr:write(require("http").redact(wf:report()))
      io.stderr:flush()
    end
  end
  if not r[1] then error(r[2], 0) end
  return table.unpack(r, 2, r.n)
end

return workflow
