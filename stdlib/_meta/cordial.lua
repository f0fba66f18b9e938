---@meta cordial

-- The doc blocks of cordial: cordial.job, an alias made in stdlib/cordial.lua
-- (no function line to sit above).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local cordial = {}

--- The Cordial job with this id as a Job, its status read now: the same
--- function as `cordial.job_by_id(id)` (see cordial.Client:job_by_id). Not
--- to be confused with `client:job(kind, id, ref, raw)`, the constructor
--- every vendor client has. A Job found this way has no destination, so
--- its download raises kind = "usage".
--- Raises kind = "validation" for an id that is not a non-empty string.
---@param id string  the job's id
---@return moonport.Job job
function cordial.job(id) end

return cordial
