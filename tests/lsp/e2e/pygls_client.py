"""End-to-end test with pygls's language client (PyPI, pinned by scripts/setup.sh): start
`kiln lsp`, open tests/lsp/e2e/sample.py, type at `total = `, ask for an inline completion
and a completion, apply the completion's edit, and check that the file still compiles; then
run "implement and test" (kiln.implement) on the stub `add`, apply the workspace/applyEdit
the server sends, and run the docstring's examples on the result.
Usage: pygls_client.py KILN SAMPLE LOG"""

import asyncio
import doctest
import sys

from lsprotocol import types as t
from pygls.lsp.client import BaseLanguageClient


async def main(kiln, sample, log):
    text = open(sample, encoding="utf-8").read()
    lines = text.split("\n")
    row = next(i for i, l in enumerate(lines) if l.strip() == "total =")
    client = BaseLanguageClient("e2e", "1")
    edits = []

    @client.feature("workspace/applyEdit")
    def apply_edit(params):
        edits.append(params.edit)
        return t.ApplyWorkspaceEditResult(applied=True)

    await client.start_io(kiln, "lsp", "--log", log)
    caps = t.ClientCapabilities(
        general=t.GeneralClientCapabilities(position_encodings=["utf-16"]),
        text_document=t.TextDocumentClientCapabilities(
            inline_completion=t.InlineCompletionClientCapabilities()))
    init = await client.initialize_async(t.InitializeParams(capabilities=caps))
    assert init.capabilities.inline_completion_provider is not None, init
    client.initialized(t.InitializedParams())
    uri = "file://" + sample
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        t.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    # Type "are" after "total = ", one character a change, as an editor does.
    col = len(lines[row])
    version = 1
    for ch in "are":
        version += 1
        client.text_document_did_change(t.DidChangeTextDocumentParams(
            t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [t.TextDocumentContentChangeEvent_Type1(
                range=t.Range(t.Position(row, col), t.Position(row, col)), text=ch)]))
        col += 1
    lines[row] += "are"
    pos = t.Position(row, col)
    inline = await client.text_document_inline_completion_async(t.InlineCompletionParams(
        context=t.InlineCompletionContext(trigger_kind=t.InlineCompletionTriggerKind.Automatic),
        text_document=t.TextDocumentIdentifier(uri), position=pos))
    assert inline is not None and len(inline.items) >= 1, inline
    comp = await client.text_document_completion_async(t.CompletionParams(
        text_document=t.TextDocumentIdentifier(uri), position=pos))
    items = comp.items if isinstance(comp, t.CompletionList) else comp
    assert items, comp
    edit = items[0].text_edit
    line = lines[row]
    lines[row] = line[:edit.range.start.character] + edit.new_text + line[edit.range.end.character:]
    result = "\n".join(lines)
    compile(result, sample, "exec")  # raises SyntaxError when the completion broke the file
    print("pygls: completed %r -> %r; the file compiles" % ("total = are", lines[row].strip()))

    # Implement and test the stub add (the document as the server has it: with the typing).
    stub = next(i for i, l in enumerate(lines) if l.strip() == "pass")
    actions = await client.text_document_code_action_async(t.CodeActionParams(
        text_document=t.TextDocumentIdentifier(uri),
        range=t.Range(t.Position(stub, 4), t.Position(stub, 4)),
        context=t.CodeActionContext(diagnostics=[])))
    # lsprotocol reads a CodeAction with a command as a Command (both have title and command):
    # look for the command's name, and send the arguments the action carries.
    assert actions and "kiln.implement" in str(actions[0]), actions
    server_lines = "\n".join(lines[:row] + [line] + lines[row + 1:]).split("\n")
    def_line = next(i for i, l in enumerate(server_lines) if l.startswith("def add"))
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="kiln.implement", arguments=[{"uri": uri, "name": "add", "line": def_line}]))
    assert edits, "no workspace/applyEdit came"
    (edit,) = edits[0].changes[uri]
    a, b = edit.range.start, edit.range.end
    doc = "\n".join(server_lines)
    offs = [0]
    for l in server_lines:
        offs.append(offs[-1] + len(l) + 1)
    doc = doc[:offs[a.line] + a.character] + edit.new_text + doc[offs[b.line] + b.character:]
    compile(doc, sample, "exec")
    start = doc.index("def add")
    func = doc[start:]
    scope = {}
    exec(compile(func, "add", "exec"), scope)
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(verbose=False)
    for test in finder.find(scope["add"], "add", globs=scope):
        runner.run(test)
    failed, tried = runner.failures, runner.tries
    passed_here = tried - failed
    assert tried == 2 and passed_here == result["testsPassed"] == 2, (tried, failed, result)
    print("pygls: kiln.implement applied (%s tests passed by the server); docstring examples "
          "here: %d/%d pass" % (result["testsPassed"] if isinstance(result, dict) else
                                getattr(result, "testsPassed", "?"), tried - failed, tried))
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
