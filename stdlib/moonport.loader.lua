--- With -v, one debug line per `require` saying where the module was found:
--- "built-in" for the modules compiled into moonport, else the file path, so a
--- team sharing a library folder (MOONPORT_PATH, -I) sees which copy it runs.
--- Internal modules (moonport.*, *.native, the parts of a built-in such as
--- clari.ingest) are not listed. A file on the
--- search path named like a built-in is never used: that is said too.
local host = require "moonport"

local loader = {}

-- moonport's own modules, and the parts of a built-in module kept in files
-- of their own (clari.ingest is part of clari).
local function internal(name)
  local head = name:match("^([^.]+)%.")
  return name == "moonport" or head == "moonport" or name:match("%.native$") ~= nil
    or (head ~= nil and package.preload[head] ~= nil)
end

--- Wraps every searcher of package.searchers so that a found module is logged.
function loader.trace()
  local searchers = package.searchers
  for i, searcher in ipairs(searchers) do
    searchers[i] = function(name, ...)
      local found, where = searcher(name, ...)
      if type(found) == "function" then
        if where == ":preload:" then
          if not internal(name) then
            host.log("debug", string.format("require %q: built-in", name))
            -- Built-ins come first: a team module of the same name is never used.
            local shadowed = package.searchpath(name, package.path)
            if shadowed then
              host.log("warn", string.format("require %q: %s is not used: a built-in module has that name "
                .. "(built-ins come first; rename the file)", name, shadowed))
            end
          end
        else
          host.log("debug", string.format("require %q: %s", name, tostring(where)))
        end
      end
      return found, where
    end
  end
end

return loader
