--- moonport.create: a creating request sent exactly once. The request is
--- journaled inside state.once (a rerun after a crash adopts what the first
--- run created); when its answer is lost (the error's may_have_taken_effect
--- fact) the vendor's lookup finds what it created instead of sending it
--- again, and a lookup that cannot be sure fails safe, saying what to check.
local moonport = require "moonport"
local task = require "task"
local log = require "log"
local context = require "moonport.context"
local state = require "state"
local errors = require "moonport.errors"

local CR = {}

CR.create_attempts = 5

--- The error raised when a lookup cannot tell whether a create took effect:
--- nothing is sent again, and the message says what to check.
local function maybe_created(spec, cause, unsure)
  errors.raise(spec.vendor, cause and cause.kind or "network", string.format(
    "the %s may have been created: %s%s. Nothing was sent again, so that it is not created twice: %s",
    spec.what, cause and ("the answer was lost (" .. tostring(cause.message) .. ") and ") or "an earlier run was interrupted and ",
    "it cannot be told for sure whether it was", unsure), {retryable = false, status = cause and cause.status})
end

--- Sends a creating request exactly once. `spec`:
---   vendor, what ("export job"), key (identifies the request in the
---   state.once journal: the same request on a rerun has the same key),
---   before()            -> snapshot taken before sending (optional)
---   send()              -> created: a plain table describing what was created
---   find(snapshot, t0)  -> created, or nil when it was surely not created, or
---                          nil, UNSURE (a text saying what the user should
---                          check, e.g. "look for the transaction 'X' in
---                          Claravine before you rerun") when the vendor's
---                          listing cannot tell: looks for what a request
---                          sent at time t0 (seconds) created, when its
---                          answer was lost
--- Inside state.once, the request is journaled: a rerun after a crash adopts
--- what the first run created instead of sending it again. An UNSURE lookup
--- raises instead of sending again.
function CR.create(spec)
  local ctx = context.current()
  local jkey
  if ctx and ctx.once then
    ctx.counts[spec.key] = (ctx.counts[spec.key] or 0) + 1
    jkey = spec.vendor .. "\31" .. spec.key .. "\31" .. ctx.counts[spec.key]
    local rec = state._journal_get(ctx, jkey)
    if rec and rec.created then
      log.debug("%s: %s adopted from the state journal (it was created by an earlier run)", spec.vendor, spec.what)
      return rec.created
    end
    if rec then
      -- An earlier run sent it and did not live to see the answer.
      local found, unsure = spec.find(rec.snapshot, rec.started_at)
      if not found and unsure then maybe_created(spec, nil, unsure) end
      if found then
        log.info("%s: found the %s an interrupted run created; adopting it instead of sending again", spec.vendor, spec.what)
        state._journal_set(ctx, jkey, {started_at = rec.started_at, created = found})
        return found
      end
    end
  end
  local last
  for attempt = 1, CR.create_attempts do
    local snapshot = spec.before and spec.before() or nil
    -- When the attempt began (each binding's find allows for the vendor's clock).
    local started_at = moonport.now()
    if jkey then state._journal_set(ctx, jkey, {started_at = started_at, snapshot = snapshot}) end
    local ok, result = pcall(spec.send)
    if ok then
      if jkey then state._journal_set(ctx, jkey, {started_at = started_at, created = result}) end
      return result
    end
    last = result
    if not errors.outcome_unknown(result) then error(result, 0) end
    log.warn("%s: the answer to creating the %s was lost (%s); checking whether it was created",
      spec.vendor, spec.what, result.message)
    -- The lookup is a read: a failure of its own is tried again a few times.
    local fok, found, unsure
    for look = 1, 3 do
      fok, found, unsure = pcall(spec.find, snapshot, started_at)
      if fok or look == 3 then break end
      log.warn("%s: checking whether the %s was created failed (%s); trying again", spec.vendor, spec.what,
        type(found) == "table" and found.message or tostring(found))
      task.sleep(look * (0.5 + math.random()))
    end
    if not fok then
      errors.raise(spec.vendor, type(found) == "table" and found.kind or result.kind, string.format(
        "the answer to creating the %s was lost (%s), and checking whether it was created failed too (%s); "
        .. "nothing was sent again. Rerun the script (inside state.once it will check again before sending)",
        spec.what, result.message, type(found) == "table" and found.message or tostring(found)),
        {retryable = true})
    end
    if not found and unsure then maybe_created(spec, result, unsure) end
    if found then
      log.info("%s: the %s had been created; adopting it", spec.vendor, spec.what)
      if jkey then state._journal_set(ctx, jkey, {started_at = started_at, created = found}) end
      return found
    end
    log.info("%s: the %s was not created; sending it again (attempt %d of %d)", spec.vendor, spec.what,
      attempt + 1, CR.create_attempts)
    task.sleep(errors.backoff(attempt))
  end
  errors.raise(spec.vendor, last.kind, string.format("could not create the %s after %d attempts; the last: %s",
    spec.what, CR.create_attempts, last.message), {status = last.status, retryable = true})
end

return CR
