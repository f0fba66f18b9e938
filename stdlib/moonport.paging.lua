-- moonport.paging: the one way a binding walks a paged listing.
--
-- Real services cap a page below what was asked (ask for 100, get 50), ignore
-- paging parameters they do not know, or stop sending the total. So a walk:
-- - advances by the number of items it received, never by the size it asked;
-- - ends when the reported total is reached, or a page comes back empty, or
--   (for a listing without a total) a page is shorter than the page the
--   service served before (so a cap alone never ends the walk early);
-- - ends, instead of looping, when the service answers the same page again
--   (it ignored the offset): the items it already gave are not repeated.
--
-- Internal module: vendors use it, scripts do not.
local P = {}

--- A stable text for an item, to see a page that repeats the previous one.
local function fingerprint(item)
  if type(item) ~= "table" then return tostring(item) end
  local id = item.id or item._id or item.uuid or item.jobId
  if id ~= nil then return tostring(id) end
  local ok, text = pcall(require("json").encode, item, {sort_keys = true})
  return ok and text or tostring(item)
end

local function page_key(items)
  local parts = {}
  for i = 1, #items do parts[i] = fingerprint(items[i]) end
  return table.concat(parts, "\0")
end

--- An iterator over every item of an offset-paged listing.
--- spec.fetch(offset, page_number, size) → items (a list), total (number or nil),
--- called only when more items are needed; `offset` counts the items received
--- so far, `page_number` starts at spec.first_page (default 1).
--- spec.size: the page size asked for. spec.max_items: stop after that many.
---@return fun():any
function P.items(spec)
  local size = assert(spec.size, "paging: size")
  local offset, number = 0, spec.first_page or 1
  local page, i, done = nil, 0, false
  local previous_key, served = nil, nil
  local given, max_items = 0, spec.max_items
  return function()
    while true do
      if max_items and given >= max_items then return nil end
      if page and i < #page then
        i = i + 1
        given = given + 1
        return page[i]
      end
      if done then return nil end
      local items, total = spec.fetch(offset, number, size)
      items = items or {}
      local key = #items > 0 and page_key(items) or nil
      if key ~= nil and key == previous_key then
        -- The service gave the same page again: it ignores the offset. What it
        -- gave before is all there is to have this way.
        done, page = true, nil
        return nil
      end
      previous_key = key
      page, i = items, 0
      offset = offset + #items
      number = number + 1
      total = tonumber(total)
      if #items == 0 then
        done = true
      elseif total ~= nil then
        if offset >= total then done = true end
      elseif served ~= nil and #items < served then
        done = true
      elseif served == nil and #items < size then
        -- A first page shorter than asked, with no total: either the whole
        -- listing or a cap. Ask once more; an empty page settles it.
        served = #items
      else
        served = math.max(served or 0, #items)
      end
    end
  end
end

--- Every item of an offset-paged listing, as a list.
function P.all(spec)
  local out = {}
  for item in P.items(spec) do out[#out + 1] = item end
  return out
end

return P
