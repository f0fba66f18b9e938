-- A first workflow without a vendor: build an export-like set of records,
-- write it as JSON, read it back, and check nothing was lost.
-- Run: moonport run scripts/examples/export-roundtrip.lua /tmp/accounts.json
local json, log = require "json", require "log"

local path = arg[1] or "accounts.json"
local stages = {"Prospecting", "Qualification", "Proposal", "Négociation", "Closed Won", "Closed Lost"}

local records = {}
for i = 1, 500 do
  records[i] = {
    id = string.format("0061%011d", i),
    name = "Account " .. i .. (i % 7 == 0 and " — Zürich GmbH" or ""),
    amount = i * 1250.5,
    seats = i * 3,
    stage = stages[i % #stages + 1],
    closed = i % #stages >= 4,
    owner = {id = "005" .. (i % 12), email = "owner" .. (i % 12) .. "@example.com"},
    tags = json.array(i % 3 == 0 and {"renewal", "priority"} or {}),
    notes = i % 5 == 0 and json.null or "call back in Q" .. (i % 4 + 1),
  }
end

local text = json.encode({exported_at = "2024-03-31T00:00:00Z", records = records}, {sort_keys = true})
local tmp = path .. ".part"
local f = assert(io.open(tmp, "wb"))
f:write(text)
f:close()
assert(os.rename(tmp, path))
log.info("wrote %d records (%d bytes) to %s", #records, #text, path)

local back = json.decode(assert(io.open(path, "rb")):read("a"))
assert(#back.records == #records, "records lost")
local total = 0
for _, r in ipairs(back.records) do total = total + r.amount end
assert(math.type(back.records[10].seats) == "integer", "integers stay integers")
assert(back.records[5].notes == json.null, "null survives")
assert(json.encode(back.records[1].tags) == "[]", "[] stays an array")
log.info("read back %d records, total amount %.2f", #back.records, total)
print(string.format("%d records, total %.2f", #back.records, total))
