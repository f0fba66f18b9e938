---@meta moonport

-- The doc blocks of moonport, written in Swift
-- (Sources/MoonportCore/MoonportModule.swift), and the error object every
-- module raises.
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local moonport = {}

--- The error object every moonport function raises: a table
--- with a `__tostring` that gives "file:line: message". Catch it with pcall
--- and look at its fields.
---   local ok, err = pcall(clari.export, "forecast", params)
---   if not ok and err.kind == "rate_limited" then ... end
---@class moonport.Error
---@field kind "http"|"auth"|"rate_limited"|"timeout"|"network"|"job_failed"|"validation"|"usage"|"interrupted"|"runtime"  what went wrong
---@field message string        what happened, in words (secrets masked)
---@field vendor string|nil     the vendor it came from
---@field status integer|nil    the HTTP status
---@field code string|nil       the vendor's error code (or status word, for job_failed)
---@field retryable boolean|nil whether trying again later may work
---@field details any           the vendor's decoded error body, or other detail (job_failed: {failed = Jobs})
---@field where string|nil      "file:line: " of the script's line that called into moonport
local Error = {}

--- A file being written atomically (moonport.file_writer). `<close>` writes
--- it when the block ends normally and drops it when the block ends by an error.
---@class moonport.FileWriter
---@field write fun(self: moonport.FileWriter, text: string)  appends text; anything but a string raises kind = "validation"
---@field close fun(self: moonport.FileWriter): integer  writes the file (fsynced, renamed over path); the bytes written
---@field abort fun(self: moonport.FileWriter)  drops what was written; path is left as it was
local FileWriter = {}

--- Makes a moonport error object (it does not raise it: use
--- `error(moonport.error(...), 0)`). `fields` may set vendor, status, code,
--- retryable and details, and any other field, which is kept as it is.
--- Its `where` names the line that called moonport.error, or, when
--- moonport's own library made it, the first line of your script.
--- Raises kind = "validation" for an unknown kind.
---   error(moonport.error("validation", "rows: the file is empty", {file = path}), 0)
---@param kind "http"|"auth"|"rate_limited"|"timeout"|"network"|"job_failed"|"validation"|"usage"|"interrupted"|"runtime"
---@param message string  what happened
---@param fields? table   more fields of the error object
---@return moonport.Error err  the error object
function moonport.error(kind, message, fields) end

--- Writes one line to stderr, with the time and the level; "debug" lines
--- show only with -v. Secrets seen so far are masked. The log module
--- (log.info("%d rows", n)) formats and calls this.
--- Raises kind = "validation" for an unknown level.
---@param level "debug"|"info"|"warn"|"error"
---@param text string  the line
function moonport.log(level, text) end

--- The wall clock: seconds since 1970-01-01 UTC, with a fraction.
---@return number seconds
function moonport.now() end

--- Shows `text` as the progress line at the bottom of a terminal (it is
--- rewritten in place; "" clears it). Does nothing when stderr is not a
--- terminal. Secrets seen so far are masked.
---@param text string  the progress text, or "" to clear the line
function moonport.progress(text) end

--- A duration for people, as the progress line writes it: "42 s",
--- "3 min 05 s", "1 h 02 min" (whole seconds, rounded down; below 0 is 0 s).
---   log.info("waited %s", moonport.duration(elapsed))
---@param seconds number  the duration
---@return string text
function moonport.duration(seconds) end

--- Opens `path` for writing text atomically: the pieces go to a temporary
--- file beside it (`PATH.tmp-PID-N`), and w:close() fsyncs it and renames it
--- over path, so path is either as it was or complete. w:abort(), an error
--- inside a `<close>` block, or the writer being collected removes the
--- temporary file; one that a killed run left is removed by the next write
--- of the same path. The same writer as csv.writer and ndjson.writer.
---   local w <close> = moonport.file_writer("out.json")
---   w:write(json.encode(value))
---   w:close()
--- Raises kind = "validation" (with `file`) when the file cannot be created.
---@param path string  the file to write
---@return moonport.FileWriter writer
function moonport.file_writer(path) end

--- The version of moonport (it is also in the User-Agent of every request).
---@type string
moonport.version = nil

--- Whether moonport runs with -v / --verbose (debug lines and HTTP exchanges shown).
---@type boolean
moonport.verbose = nil

--- Whether stderr is a terminal (then progress lines are shown).
---@type boolean
moonport.stderr_is_terminal = nil

return moonport
