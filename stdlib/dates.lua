--- dates: dates and date ranges in the formats the vendors use. UTC only:
--- a time is a number of seconds since 1970-01-01T00:00:00Z (fractional
--- allowed), a date-time written without a zone is read as UTC, and every
--- formatted date is a UTC date. No local time zone is ever applied.
---
---   local dates = require "dates"
---   dates.parse("2024-01-31T12:00:00Z")        --> 1706702400
---   dates.parse(1706702400000)                 --> 1706702400 (epoch milliseconds)
---   dates.format(t, "day")                     --> "2024-01-31" (Claravine start-date, Cordial start)
---   dates.quarter(t)                           --> "2024_Q1" (Clari time_period)
---   dates.format(t, "epoch_ms")                --> 1706702400000 (Clari ingestion, mediarithmics)
---   for _, w in ipairs(dates.range("2024-01-01", "2024-03-31", {step = "month"})) do
---     claravine.transactions("ds-campaigns", {start_date = w.first, end_date = w.last})
---   end
---
--- Everything that takes a time takes what dates.parse reads: a number, an
--- ISO-8601 date or date-time, 2024-01, 2024_Q1, 20240131 or epoch digits.
local moonport = require "moonport"

local dates = {}

---------------------------------------------------------------------------
-- Errors
---------------------------------------------------------------------------

local args = require "moonport.args"
local raise = args.raise

---------------------------------------------------------------------------
-- The calendar (proleptic Gregorian, Howard Hinnant's algorithms)
---------------------------------------------------------------------------

local function is_leap(y) return y % 4 == 0 and (y % 100 ~= 0 or y % 400 == 0) end

local month_days = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
local month_names = {"January", "February", "March", "April", "May", "June", "July", "August", "September",
  "October", "November", "December"}

local function days_in_month(y, m)
  if m == 2 and is_leap(y) then return 29 end
  return month_days[m]
end

-- Days since 1970-01-01 of a civil date.
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = y // 400
  local yoe = y - era * 400
  local doy = (153 * (m > 2 and m - 3 or m + 9) + 2) // 5 + d - 1
  local doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
  return era * 146097 + doe - 719468
end

-- The civil date of a day number.
local function civil_from_days(z)
  z = z + 719468
  local era = z // 146097
  local doe = z - era * 146097
  local yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
  local doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
  local mp = (5 * doy + 2) // 153
  local d = doy - (153 * mp + 2) // 5 + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400 + (m <= 2 and 1 or 0)
  return y, m, d
end

-- Whole seconds as an integer when they are whole.
local function tidy(t) return math.tointeger(t) or t end

-- Parts of a time: year, month, day, hour, minute, second (fractional kept).
local function split(t)
  local days = math.floor(t / 86400)
  local rest = t - days * 86400
  local y, m, d = civil_from_days(days)
  local h = math.floor(rest / 3600)
  local mi = math.floor((rest - h * 3600) / 60)
  return y, m, d, h, mi, rest - h * 3600 - mi * 60
end

local function join(y, m, d, h, mi, s)
  return tidy(days_from_civil(y, m, d) * 86400 + (h or 0) * 3600 + (mi or 0) * 60 + (s or 0))
end

---------------------------------------------------------------------------
-- parse
---------------------------------------------------------------------------

local expected = "expected a date like 2024-01-31, 2024-01-31T12:00:00Z, 2024-01, 2024_Q1 or epoch seconds"

-- Seconds since 1970 of v, and what v named as a whole when it was written as
-- a day, a month or a quarter ("day", "month", "quarter"; nil otherwise).
-- Returns nil, why when v cannot be read.
local function read(v)
  if type(v) == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return nil, "not a finite number" end
    if math.abs(v) > 1e11 then
      -- Epoch milliseconds.
      if math.type(v) == "integer" and v % 1000 == 0 then return v // 1000 end
      return v / 1000
    end
    return v
  end
  if type(v) ~= "string" then return nil, "not a string or a number" end

  local digits = v:match("^%d+$")
  if digits and #v >= 9 then return read(math.tointeger(tonumber(v)) or tonumber(v)) end

  local y, q = v:match("^(%d%d%d%d)[_%-]?[Qq]([1-4])$")
  if y then return join(tonumber(y), (tonumber(q) - 1) * 3 + 1, 1), "quarter" end

  local mo
  y, mo = v:match("^(%d%d%d%d)%-(%d%d)$")
  if y then
    y, mo = tonumber(y), tonumber(mo)
    if mo < 1 or mo > 12 then return nil, string.format("month %d is not 1 to 12", mo) end
    return join(y, mo, 1), "month"
  end

  local d, rest
  y, mo, d, rest = v:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then
    y, mo, d = v:match("^(%d%d%d%d)(%d%d)(%d%d)$")
    rest = ""
  end
  if not y then return nil, expected end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 then return nil, string.format("month %d is not 1 to 12", mo) end
  local last = days_in_month(y, mo)
  if d < 1 or d > last then
    return nil, string.format("day %d is not in %s %d, which has %d days", d, month_names[mo], y, last)
  end
  if rest == "" then return join(y, mo, d), "day" end

  local h, mi, sec, frac, zone = rest:match("^[Tt ](%d%d):(%d%d)(:?%d?%d?)(%.?%d*)(.*)$")
  if not h then return nil, expected end
  if sec ~= "" and not sec:match("^:%d%d$") then return nil, "seconds must be two digits" end
  if frac ~= "" and (sec == "" or not frac:match("^%.%d+$")) then return nil, "a fraction of a second must follow the seconds" end
  h, mi, sec = tonumber(h), tonumber(mi), sec == "" and 0 or tonumber(sec:sub(2))
  if h > 23 then return nil, string.format("hour %d is not 0 to 23", h) end
  if mi > 59 then return nil, string.format("minute %d is not 0 to 59", mi) end
  if sec > 59 then return nil, string.format("second %d is not 0 to 59", sec) end
  local t = join(y, mo, d, h, mi, sec)
  if frac ~= "" then t = t + tonumber("0" .. frac) end
  if zone ~= "" and zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d?%d?)$")
    if not sign or (zm ~= "" and #zm ~= 2) then return nil, "the zone '" .. zone .. "' is not Z, +HH:MM or -HH:MM" end
    zh, zm = tonumber(zh), tonumber(zm) or 0
    if zh > 23 or zm > 59 then return nil, "the zone '" .. zone .. "' is out of range" end
    local offset = zh * 3600 + zm * 60
    t = sign == "+" and t - offset or t + offset
  end
  return tidy(t)
end

-- dates.parse for the other functions: names the function and the argument.
local function time_arg(fname, what, v)
  local t, why = read(v)
  if t == nil then
    if type(v) == "string" then
      raise("validation", string.format("%s: %s: cannot read '%s' as a date: %s", fname, what, v, why))
    end
    args.fail(fname, what, "a date string or a number of seconds",
      type(v) == "number" and (tostring(v) .. " (" .. why .. ")") or args.got(v))
  end
  return t, why
end

--- Reads a time as seconds since 1970 (UTC). Takes ISO-8601 dates and
--- date-times ("2024-01-31", "2024-01-31T12:00:00Z", "...T12:00:00.250+02:00",
--- a space instead of the T; no zone means UTC), "2024-01" (the first of the
--- month), "2024_Q1" or "2024-Q1" (the first day of the quarter), "20240131",
--- and epoch numbers or strings of 9 digits or more: seconds, or
--- milliseconds when above 1e11 (mediarithmics, Clari ingestion). Raises
--- kind = "validation" saying what is wrong ("February 2023 has 28 days").
---   dates.parse("2024-02-29")  --> 1709164800
---@param v string|number   the date, date-time or epoch number
---@return number           seconds since 1970-01-01T00:00:00Z (an integer when whole)
function dates.parse(v)
  return (time_arg("dates.parse", "argument #1", v))
end

--- What dates.parse reads, without raising: the seconds since 1970, or nil
--- and why when `v` cannot be read (for a vendor's field that may be absent
--- or in a shape of its own).
---   dates.read("2024-01-31T12:00:00+01:00")  --> 1706698800
---   dates.read("yesterday")                  --> nil, "expected a date like ..."
---@param v any   the value to read
---@return number|nil t   seconds since 1970-01-01T00:00:00Z, or nil
---@return string|nil why  what is wrong, when t is nil
function dates.read(v)
  return read(v)
end

--- The current time: seconds since 1970 (UTC, fractional), from moonport.now().
---@return number   seconds since 1970-01-01T00:00:00Z
function dates.now()
  return moonport.now()
end

--- Today's date in UTC, as "YYYY-MM-DD".
---@return string   today, e.g. "2024-01-31"
function dates.today()
  return dates.format(moonport.now(), "day")
end

---------------------------------------------------------------------------
-- format
---------------------------------------------------------------------------

local function quarter_of(t)
  local y, m = split(t)
  return string.format("%04d_Q%d", y, (m - 1) // 3 + 1)
end

local formats = {
  iso = function(t)
    local y, m, d, h, mi, s = split(math.floor(t))
    return string.format("%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, h, mi, s)
  end,
  iso_ms = function(t)
    local ms = math.floor(t * 1000 + 0.5)
    local y, m, d, h, mi, s = split(ms // 1000)
    return string.format("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", y, m, d, h, mi, s, ms % 1000)
  end,
  day = function(t)
    local y, m, d = split(t)
    return string.format("%04d-%02d-%02d", y, m, d)
  end,
  month = function(t)
    local y, m = split(t)
    return string.format("%04d-%02d", y, m)
  end,
  quarter = quarter_of,
  year = function(t) return string.format("%04d", (split(t))) end,
  epoch = function(t) return math.floor(t) end,
  epoch_ms = function(t) return math.floor(t * 1000 + 0.5) end,
}

--- Writes a time in one of the vendors' formats (UTC):
--- "iso" 2024-01-31T12:00:00Z (the default; seconds, fraction dropped),
--- "iso_ms" 2024-01-31T12:00:00.250Z, "day" 2024-01-31, "month" 2024-01,
--- "quarter" 2024_Q1, "year" 2024, "epoch" (integer seconds), "epoch_ms"
--- (integer milliseconds), or an os.date pattern with % ("%Y%m%d", always UTC).
--- Raises kind = "validation" for an unknown format or an unreadable time.
---   dates.format("2024-01-31T12:00:00.250Z", "epoch_ms")  --> 1706702400250
---@param t string|number   a time as dates.parse reads it
---@param fmt? string       the format (default "iso")
---@return string|integer   the formatted time (an integer for "epoch" and "epoch_ms")
function dates.format(t, fmt)
  local secs = time_arg("dates.format", "argument #1 (t)", t)
  fmt = fmt == nil and "iso" or fmt
  args.check("dates.format", "argument #2 (fmt)", fmt, "string")
  local f = formats[fmt]
  if f then return f(secs) end
  if fmt:find("%", 1, true) then
    local ok, text = pcall(os.date, "!" .. fmt, math.floor(secs))
    if not ok then raise("validation", "dates.format: bad pattern '" .. fmt .. "': " .. tostring(text)) end
    return text
  end
  local names = {}
  for k in pairs(formats) do names[#names + 1] = k end
  table.sort(names)
  raise("validation", string.format("dates.format: unknown format '%s' (one of %s, or an os.date pattern with %%)",
    fmt, table.concat(names, ", ")))
end

--- The quarter a time falls in, as Clari's time periods write it ("2024_Q1").
---@param t string|number   a time as dates.parse reads it
---@return string           "YYYY_QN"
function dates.quarter(t)
  return quarter_of(time_arg("dates.quarter", "argument #1 (t)", t))
end

--- The quarters from the one holding `from` to the one holding `to`, both
--- included, in order. Raises kind = "validation" when `to` is before `from`.
---   dates.quarters("2023-11-15", "2024-04-01")  --> {"2023_Q4", "2024_Q1", "2024_Q2"}
---@param from string|number   a time as dates.parse reads it
---@param to string|number     a time as dates.parse reads it
---@return string[]            the quarters, "YYYY_QN"
function dates.quarters(from, to)
  local a = time_arg("dates.quarters", "argument #1 (from)", from)
  local b = time_arg("dates.quarters", "argument #2 (to)", to)
  if b < a then
    raise("validation", string.format("dates.quarters: 'to' (%s) is before 'from' (%s)", formats.iso(b), formats.iso(a)))
  end
  local y1, m1 = split(a)
  local y2, m2 = split(b)
  local k1, k2 = y1 * 4 + (m1 - 1) // 3, y2 * 4 + (m2 - 1) // 3
  local out = {}
  for k = k1, k2 do out[#out + 1] = string.format("%04d_Q%d", k // 4, k % 4 + 1) end
  return out
end

---------------------------------------------------------------------------
-- Arithmetic
---------------------------------------------------------------------------

local fixed = {second = 1, minute = 60, hour = 3600, day = 86400, week = 7 * 86400}
local months = {month = 1, quarter = 3, year = 12}

local function unit_arg(fname, what, unit, allowed)
  if type(unit) == "string" then
    local u = unit:gsub("s$", "")
    if allowed[u] then return u end
  end
  args.check(fname, what, unit, allowed)
end

-- t plus n calendar months; the day is kept, or the month's last day when
-- it has fewer (2024-01-31 + 1 month = 2024-02-29).
local function add_months(t, n)
  local y, m, d, h, mi, s = split(t)
  local k = y * 12 + (m - 1) + n
  local ny, nm = k // 12, k % 12 + 1
  return join(ny, nm, math.min(d, days_in_month(ny, nm)), h, mi, s)
end

local add_units = {second = true, minute = true, hour = true, day = true, week = true, month = true, quarter = true, year = true}

--- Adds n units to a time: "second", "minute", "hour", "day", "week" (fixed
--- lengths; UTC has no daylight saving), or "month", "quarter", "year"
--- (calendar steps that keep the day, or take the month's last day when it
--- has fewer: 2024-01-31 + 1 month = 2024-02-29). Plural names work too.
--- n may be negative; it must be an integer for calendar units.
---   dates.format(dates.add("2024-03-31", -1, "month"), "day")  --> "2024-02-29"
---@param t string|number   a time as dates.parse reads it
---@param n number          how many units (an integer for month, quarter, year)
---@param unit string       the unit
---@return number           seconds since 1970 (UTC)
function dates.add(t, n, unit)
  local secs = time_arg("dates.add", "argument #1 (t)", t)
  args.check("dates.add", "argument #2 (n)", n, "number")
  if n ~= n or n == math.huge or n == -math.huge then
    args.fail("dates.add", "argument #2 (n)", "a finite number", tostring(n))
  end
  local u = unit_arg("dates.add", "argument #3 (unit)", unit, add_units)
  if fixed[u] then return tidy(secs + n * fixed[u]) end
  local whole = math.tointeger(n)
  if whole == nil then
    args.fail("dates.add", "argument #2 (n)", "a whole number of " .. u .. "s", tostring(n))
  end
  return add_months(secs, whole * months[u])
end

local start_units = {minute = true, hour = true, day = true, week = true, month = true, quarter = true, year = true}

--- The start of the minute, hour, day, week (Monday 00:00, as ISO weeks
--- start), month, quarter or year that holds a time (UTC).
---   dates.format(dates.start_of("2024-05-17T10:00:00Z", "quarter"), "day")  --> "2024-04-01"
---@param t string|number   a time as dates.parse reads it
---@param unit string       the unit
---@return number           seconds since 1970 (UTC)
function dates.start_of(t, unit)
  local secs = time_arg("dates.start_of", "argument #1 (t)", t)
  local u = unit_arg("dates.start_of", "argument #2 (unit)", unit, start_units)
  if u == "minute" then return tidy(math.floor(secs / 60) * 60) end
  if u == "hour" then return tidy(math.floor(secs / 3600) * 3600) end
  local days = math.floor(secs / 86400)
  if u == "day" then return tidy(days * 86400) end
  if u == "week" then
    -- 1970-01-01 was a Thursday: Monday-based weekday = (days + 3) % 7.
    return tidy((days - (days + 3) % 7) * 86400)
  end
  local y, m = civil_from_days(days)
  if u == "month" then return join(y, m, 1) end
  if u == "quarter" then return join(y, (m - 1) // 3 * 3 + 1, 1) end
  return join(y, 1, 1)
end

---------------------------------------------------------------------------
-- range
---------------------------------------------------------------------------

local range_units = {hour = true, day = true, week = true, month = true, quarter = true, year = true}
dates.max_windows = 100000

-- The YYYY-MM-DD of the last day an instant-exclusive end covers.
local function last_day(to)
  local days = math.floor(to / 86400)
  if to == days * 86400 then days = days - 1 end
  local y, m, d = civil_from_days(days)
  return string.format("%04d-%02d-%02d", y, m, d)
end

--- Cuts the time from `from` to `to` into consecutive windows of `span`
--- steps ("hour", "day" (default), "week", "month", "quarter", "year"),
--- counted from `from` (calendar steps keep its day, as dates.add does); the
--- last window ends at `to`. When `to` is written as a whole day, month or
--- quarter ("2024-03-31", "2024-03", "2024_Q1"), the range runs to the end
--- of it; any other `to` (a date-time, a number) is the exclusive end.
--- Each window is {from=, to=, first=, last=}: from/to are seconds since 1970,
--- half-open (to = the next window's from), first/last the days covered,
--- both included, as "YYYY-MM-DD" (Claravine's start-date/end-date, Cordial's
--- start/stop). Raises kind = "validation" when `to` is before `from`; a
--- `to` written as a whole day, month or quarter runs to its end, so it is
--- refused when that end is not after `from`: dates.range("2024-02-01",
--- "2024-01-31") raises; dates.range("2024-01-31", "2024-01-31") is that one
--- day; dates.range("2024-01-15", "2024-01") is the rest of January.
---   dates.range("2024-01-01", "2024-03-31", {step = "month"})
---   --> {{first = "2024-01-01", last = "2024-01-31", ...}, {first = "2024-02-01", last = "2024-02-29", ...}, ...}
---@param from string|number   the start, as dates.parse reads it
---@param to string|number     the end (see above)
---@param opts? table          {step = "day"|"week"|"month"|..., span = N (steps per window, default 1)}
---@return table[]             the windows, in order
function dates.range(from, to, opts)
  local a = time_arg("dates.range", "argument #1 (from)", from)
  local b, whole = time_arg("dates.range", "argument #2 (to)", to)
  local b0 = b
  if whole == "day" then b = b + 86400
  elseif whole == "month" then b = add_months(b, 1)
  elseif whole == "quarter" then b = add_months(b, 3) end
  -- `to` as a whole day, month or quarter reaches its end: the range is
  -- refused only when that end is not after `from` (a `from` inside the
  -- period gives the rest of it). Messages show the arguments as written.
  if b < a or (whole and b <= a) then
    local function shown(v, t)
      if type(v) == "string" then return "'" .. v .. "'" end
      return tostring(v) .. " = " .. formats.iso(t)
    end
    raise("validation", string.format("dates.range: 'to' (%s) is before 'from' (%s)", shown(to, b0), shown(from, a)))
  end
  opts = args.options("dates.range", 3, opts, {step = true, span = true})
  local step = unit_arg("dates.range", "option 'step'", opts.step or "day", range_units)
  local span = args.check("dates.range", "option 'span'", opts.span, "integer >= 1", true) or 1
  local out = {}
  local k, start = 0, a
  while start < b do
    k = k + 1
    if k > dates.max_windows then
      raise("validation", string.format("dates.range: more than %d windows; use a longer step or span", dates.max_windows))
    end
    local stop
    if fixed[step] then stop = tidy(a + k * span * fixed[step])
    else stop = add_months(a, k * span * months[step]) end
    if stop > b then stop = b end
    out[k] = {from = start, to = stop, first = formats.day(start), last = last_day(stop)}
    start = stop
  end
  return out
end

return dates
