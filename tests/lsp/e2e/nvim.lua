-- End-to-end test with Neovim's own LSP client (headless): start `kiln lsp`, open a copy of
-- sample.py, type at `total = `, ask for a completion, apply its edit, and write the buffer;
-- e2e.sh then checks that the file compiles. Environment: KILN, E2E_FILE, E2E_LOG.
local kiln = os.getenv("KILN")
local file = os.getenv("E2E_FILE")
local function fail(msg)
  io.stderr:write("nvim: " .. msg .. "\n")
  vim.cmd("cquit 1")
end

vim.cmd("edit " .. file)
vim.bo.filetype = "python"
local id = vim.lsp.start_client({
  name = "kiln",
  cmd = { kiln, "lsp", "--log", os.getenv("E2E_LOG") },
  root_dir = vim.fn.fnamemodify(file, ":h"),
  flags = { debounce_text_changes = 0 },
})
if not id then
  fail("the client did not start")
end
vim.lsp.buf_attach_client(0, id)
local ok = vim.wait(30000, function()
  local c = vim.lsp.get_client_by_id(id)
  return c ~= nil and c.initialized
end, 50)
if not ok then
  fail("no initialize response")
end

-- Type "are" after "total = ", one character at a time (incremental didChange).
local row = vim.fn.search("^    total = $") - 1
for _, ch in ipairs({ "a", "r", "e" }) do
  local line = vim.api.nvim_buf_get_lines(0, row, row + 1, true)[1]
  vim.api.nvim_buf_set_text(0, row, #line, row, #line, { ch })
end
local line = vim.api.nvim_buf_get_lines(0, row, row + 1, true)[1]
-- After the last character, as in insert mode (normal mode's cursor cannot go there).
local params = {
  textDocument = vim.lsp.util.make_text_document_params(),
  position = { line = row, character = #line },
}
local resp = vim.lsp.buf_request_sync(0, "textDocument/completion", params, 60000)
local result = resp and resp[id] and resp[id].result
if not result or not result.items or #result.items == 0 then
  fail("no completion items: " .. vim.inspect(resp))
end
local client = vim.lsp.get_client_by_id(id)
vim.lsp.util.apply_text_edits({ result.items[1].textEdit }, 0, client.offset_encoding)
print("nvim: completed to " .. vim.api.nvim_buf_get_lines(0, row, row + 1, true)[1])
vim.cmd("write")
client.stop()
vim.wait(5000, function() return client.is_stopped() end, 50)
vim.cmd("qall!")
