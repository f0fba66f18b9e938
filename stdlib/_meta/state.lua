---@meta state

-- The doc blocks of state: state.path, written in Swift
-- (Sources/MoonportCore/State/).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local state = {}

--- The path of the state database (--state PATH; .moonport/state.sqlite
--- under the current directory by default), or with --state postgres://...
--- the URL without its user and password. The file is created only when
--- state is first used.
---@return string path
function state.path() end

return state
