"""End-to-end test of the test configuration with pygls's language client (PyPI, pinned by
scripts/setup.sh): in a temporary workspace, start `kiln lsp` with initializationOptions that
name the C test files (kiln.tests.c.files), check that a bad setting is reported by name with
window/showMessage, run kiln.implement on a C stub (whose file includes its own header, which the
server inlines for the sandbox), apply the workspace/applyEdit the server sends, and compile and
run the configured test file on the result here; then configure a Python
test command (kiln.tests.python.command, pytest) through workspace/didChangeConfiguration, run
kiln.implement on a Python stub, and run pytest here on the edited file (Debian's python3-pytest,
which scripts/setup.sh installs).
Usage: pygls_tests.py KILN WORKDIR LOG"""

import asyncio
import os
import subprocess
import sys

from lsprotocol import types as t
from pygls.lsp.client import BaseLanguageClient

CALC_C = """\
#include <stdio.h>
#include "calc.h"

/* Returns a + b. */
int add(int a, int b)
{
}
"""
CALC_H = "int add(int a, int b);\n"
TEST_CALC_C = """\
#include <stdio.h>
#include "../calc.h"

int main(void)
{
    if (add(2, 3) != 5 || add(-1, 1) != 0) {
        fprintf(stderr, "add is wrong\\n");
        return 1;
    }
    return 0;
}
"""
MATHX_PY = '''\
def double(x):
    """Returns x times two."""
    pass
'''
TEST_MATHX_PY = """\
from mathx import double


def test_double():
    assert double(2) == 4
    assert double(-3) == -6
"""


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def apply_edit(text, edit):
    lines = text.split("\n")
    offs = [0]
    for l in lines:
        offs.append(offs[-1] + len(l) + 1)
    a, b = edit.range.start, edit.range.end
    return text[:offs[a.line] + a.character] + edit.new_text + text[offs[b.line] + b.character:]


async def implement(client, edits, uri, name, line):
    edits.clear()
    result = await client.workspace_execute_command_async(t.ExecuteCommandParams(
        command="kiln.implement", arguments=[{"uri": uri, "name": name, "line": line}]))
    assert edits, "no workspace/applyEdit came"
    (edit,) = edits[0].changes[uri]
    return result, edit


async def main(kiln, work, log):
    root = os.path.realpath(work)
    write(os.path.join(root, "calc.c"), CALC_C)
    write(os.path.join(root, "calc.h"), CALC_H)
    write(os.path.join(root, "tests", "test_calc.c"), TEST_CALC_C)
    write(os.path.join(root, "mathx.py"), MATHX_PY)
    write(os.path.join(root, "tests", "test_mathx.py"), TEST_MATHX_PY)

    client = BaseLanguageClient("e2e-tests", "1")
    edits = []
    messages = []

    @client.feature("workspace/applyEdit")
    def on_apply_edit(params):
        edits.append(params.edit)
        return t.ApplyWorkspaceEditResult(applied=True)

    @client.feature("window/showMessage")
    def on_show_message(params):
        messages.append(params)

    await client.start_io(kiln, "lsp", "--log", log)
    await client.initialize_async(t.InitializeParams(
        capabilities=t.ClientCapabilities(), root_uri="file://" + root,
        initialization_options={"kiln": {"tests": {"c": {"files": ["tests/*.c"]}}}}))
    client.initialized(t.InitializedParams())

    # A bad value is an error that names the setting; the configured globs stay.
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(
        settings={"kiln": {"tests": {"c": {"files": ["/abs/*.c"]}}}}))

    # The C stub, against the configured test file.
    uri = "file://" + os.path.join(root, "calc.c")
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        t.TextDocumentItem(uri=uri, language_id="c", version=1, text=CALC_C)))
    result, edit = await implement(client, edits, uri, "add", 4)
    for _ in range(50):
        if messages:
            break
        await asyncio.sleep(0.1)
    bad = [m for m in messages if m.type == t.MessageType.Error and "kiln.tests.c.files" in
           m.message]
    assert bad and "keeping [\"tests/*.c\"]" in bad[0].message, messages
    assert result["workspaceTests"] == 1, result
    assert result["tested"] and result["testsRun"] >= 1, result
    assert result["testsPassed"] == result["testsRun"], result
    done = apply_edit(CALC_C, edit)
    write(os.path.join(root, "calc.c"), done)
    exe = os.path.join(root, "test_calc")
    subprocess.run(["gcc", "-o", exe, os.path.join(root, "calc.c"),
                    os.path.join(root, "tests", "test_calc.c")], check=True)
    subprocess.run([exe], check=True)
    print("pygls-tests: kiln.implement applied to the C stub add; tests/test_calc.c (from "
          "kiln.tests.c.files) passes here too")

    # A Python test command, configured while the server runs.
    client.workspace_did_change_configuration(t.DidChangeConfigurationParams(
        settings={"kiln": {"tests": {"python": {
            "command": "python3 -m pytest -q -p no:cacheprovider {tests}"}}}}))
    uri = "file://" + os.path.join(root, "mathx.py")
    client.text_document_did_open(t.DidOpenTextDocumentParams(
        t.TextDocumentItem(uri=uri, language_id="python", version=1, text=MATHX_PY)))
    result, edit = await implement(client, edits, uri, "double", 0)
    assert result["command"] and result["verdict"] == "passed", result
    assert result["testsRun"] == 1 and result["testsPassed"] == 1, result
    write(os.path.join(root, "mathx.py"), apply_edit(MATHX_PY, edit))
    subprocess.run(["/usr/bin/python3", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "tests/test_mathx.py"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    print("pygls-tests: kiln.implement applied to the Python stub double; the configured "
          "command (pytest) passed in the sandbox and passes here too")
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
