--- clari.opportunity: Clari's opportunity API, for the clari module
--- (scripts require "clari" and call `clari.opportunities`,
--- `client:opportunities`): GET /v4/opportunity, at most
--- clari.max_opportunity_ids ids a request. clari.lua adds the methods of
--- `Client` below to clari.Client, and binds the module (O.bind).
local V = require "moonport.vendor"
local args = require "moonport.args"
local json = require "json"

local O = {}

-- The clari module (O.bind): its limit clari.max_opportunity_ids, read at each call.
local clari
function O.bind(M) clari = M end

-- The methods this file gives clari.Client (clari.lua adds them to the class).
local Client = {}
O.Client = Client

local function where(fname) return {vendor = "clari", fname = "clari." .. fname} end

--- The opportunities with these ids (GET /v4/opportunity; any number of
--- ids, 100 a request), in one list of {id=, crmScore={message=, score=},
--- fields={{id=, alias=, value=, ...}, ...}}. Also `clari.opportunities(ids, opts)`.
--- Raises kind = "validation" when `ids` is not a list of strings or
--- integers; Clari's 4xx [{statusCode, description, details}] as kind = "http".
---@param ids (string|integer)[]  the opportunity ids
---@param opts? {mode?: string}   mode: sent as Clari's `mode` query parameter
---@return table[] opportunities
function Client:opportunities(ids, opts)
  local w = where("opportunities")
  args.check(w, "argument #1 (ids)", ids, "list")
  if opts ~= nil then args.check(w, "argument #2 (options)", opts, "table") end
  for i, id in ipairs(ids) do
    if type(id) ~= "string" and math.type(id) ~= "integer" then args.check(w, "ids[" .. i .. "]", id, "string") end
  end
  local out = {}
  for at = 1, #ids, clari.max_opportunity_ids do
    local part = {}
    for k = at, math.min(#ids, at + clari.max_opportunity_ids - 1) do part[#part + 1] = tostring(ids[k]) end
    local list = V.list("clari", self:call("GET", "/v4/opportunity", {query = {oppId = part, mode = opts and opts.mode or nil}}),
      "GET /v4/opportunity")
    for _, o in ipairs(list) do out[#out + 1] = o end
  end
  return json.array(out)
end

return O
