---@meta http

-- The doc blocks of http: http.redact, written in Swift
-- (Sources/MoonportCore/HTTP/), and http.get, http.post, ..., which one loop
-- of stdlib/http.lua makes (no function line to sit above).
-- A stub file, as Neovim's runtime/lua/vim/_meta/: never loaded, not a module;
-- the build indexes its doc blocks with those of stdlib/*.lua (help(), `moonport types`).

local http = {}

--- The text with every secret value seen so far (auth values, secret
--- headers and query values sent, the secrets of the credentials profile)
--- replaced by ***.
---@param text string  any text (a body, a message)
---@return string text  the text, masked
function http.redact(text) end

--- Sends a GET request: http.request with method = "GET" and url = `url`
--- (opts: the other fields of http.request). Raises as http.request does,
--- and kind = "validation" when `opts` is not a table.
---   local items = http.get(url, {query = {page = 2}, auth = {bearer = token}}):json()
---@param url string  the URL
---@param opts? table  the other fields of http.request (help(http.request) lists them)
---@return http.Response res
function http.get(url, opts) end

--- Sends a POST request: http.request with method = "POST" and url = `url`
--- (opts: the body and the other fields of http.request). Raises as
--- http.request does, and kind = "validation" when `opts` is not a table.
---   http.post(url, {json = {name = "x"}})
---@param url string  the URL
---@param opts? table  the other fields of http.request (help(http.request) lists them)
---@return http.Response res
function http.post(url, opts) end

--- Sends a PUT request: http.request with method = "PUT" and url = `url`.
--- Raises as http.request does, and kind = "validation" when `opts` is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.put(url, opts) end

--- Sends a PATCH request: http.request with method = "PATCH" and url =
--- `url`. Raises as http.request does, and kind = "validation" when `opts`
--- is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.patch(url, opts) end

--- Sends a DELETE request: http.request with method = "DELETE" and url =
--- `url`. Raises as http.request does, and kind = "validation" when `opts`
--- is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.delete(url, opts) end

--- Sends a HEAD request (the status and headers, no body): http.request
--- with method = "HEAD" and url = `url`. Raises as http.request does, and
--- kind = "validation" when `opts` is not a table.
---@param url string  the URL
---@param opts? table  the other fields of http.request
---@return http.Response res
function http.head(url, opts) end

return http
