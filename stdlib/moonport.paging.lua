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
--   When that leaves items out (the total says more remain, or, without a
--   total, the repeated page was exactly as long as asked) the listing is
--   INCOMPLETE: by default the walk raises kind = "validation" ("only N of
--   TOTAL could be listed ..."); with spec.incomplete = "flag" it ends and
--   the walk's state (the second value P.items returns) holds the reason in
--   `incomplete`. A repeated page shorter or longer than asked, without a
--   total, is taken as the whole listing (the service ignores paging and
--   gave everything; a cap below the page asked cannot be told from that
--   without a total: a shorter one logs a warning saying so).
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
--- spec.vendor, spec.what ("GET /v2/jobs"): name the listing in the error.
--- spec.incomplete: "raise" (default) or "flag" (see above).
--- Returns the iterator and the walk's state {incomplete = reason|nil,
--- received = items received}.
---@return fun():any, table
function P.items(spec)
  local size = assert(spec.size, "paging: size")
  local offset, number = 0, spec.first_page or 1
  local page, i, done = nil, 0, false
  local previous_key, served = nil, nil
  local given, max_items = 0, spec.max_items
  local walk = {received = 0}
  local function short(items, total)
    local what = spec.what or "the listing"
    if total ~= nil and offset < total then
      walk.incomplete = string.format("%s: only %d of the %d items could be listed: the service answered the "
        .. "same page of %d again (it ignores the paging offset and serves at most %d a page)", what, offset, total,
        #items, #items)
    elseif total == nil and #items == size then
      walk.incomplete = string.format("%s: only %d items could be listed: the service answered the same full "
        .. "page of %d again (it ignores the paging offset), and there may be more", what, offset, #items)
    else
      if total == nil and #items < size then
        require("log").warn("%s: the service answered the same page of %d again (it ignores the paging offset) and "
          .. "gives no total: that may be all there is, or a page-size cap", what, #items)
      end
      return
    end
    if spec.incomplete ~= "flag" then
      require("moonport.errors").raise(spec.vendor or "moonport", "validation", walk.incomplete
        .. "; narrow the listing so that fewer items match", {retryable = false})
    end
  end
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
        short(items, tonumber(total))
        return nil
      end
      previous_key = key
      page, i = items, 0
      offset = offset + #items
      walk.received = offset
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
  end, walk
end

--- Every item of an offset-paged listing, as a list, and the walk's state
--- (see P.items: `incomplete` with spec.incomplete = "flag").
function P.all(spec)
  local out = {}
  local it, walk = P.items(spec)
  for item in it do out[#out + 1] = item end
  return out, walk
end

return P
