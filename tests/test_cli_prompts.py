"""The interactive paths, through a real terminal (pexpect gives the CLI a pty).

What is checked: the hidden value prompt asks twice and again on a mismatch and never
echoes the value; confirmations answered y / n / Enter; Ctrl-C; the passphrase prompt of a
file that has a passphrase; and that ``CI=true`` turns every prompt off even on a terminal.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from clirun import PYTHON_CLI, invoke, stored_value
from leakcheck import find_leaks

pexpect = pytest.importorskip("pexpect")

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pexpect needs a POSIX pty")

SECRET = "tty-secret-7f3a9c1e5b2d4068"
# A generous bound, never a timed assertion: only a hung prompt ever reaches it.
TIMEOUT = 60


class Terminal:
    """``mcp-router --backend file ARGS`` on a pty, with everything it printed recorded."""

    def __init__(self, *args: str, env: dict[str, str] | None = None,
                 backend: str | None = "file") -> None:
        argv = [*PYTHON_CLI[1:], *(["--backend", backend] if backend else []), *args]
        self.screen = io.StringIO()
        self.child = pexpect.spawn(
            PYTHON_CLI[0], argv, env={**os.environ, **(env or {})}, encoding="utf-8",
            timeout=TIMEOUT, dimensions=(24, 200),
        )
        self.child.logfile_read = self.screen

    def expect(self, text: str) -> None:
        self.child.expect_exact(text)

    def answer(self, prompt: str, reply: str) -> None:
        self.expect(prompt)
        self.child.sendline(reply)

    def interrupt(self) -> None:
        """Press Ctrl-C until the program ends. More than once because CPython has a window
        between writing a prompt and blocking in read() where a SIGINT is noted but not
        acted on until the next signal or input; a person never hits it, a test can."""
        for _ in range(20):
            self.child.sendintr()
            if self.child.expect([pexpect.EOF, pexpect.TIMEOUT], timeout=2) == 0:
                return
        raise AssertionError("Ctrl-C did not end the program: " + self.output)

    def finish(self) -> int:
        """Wait for the program to end; its exit status."""
        self.child.expect(pexpect.EOF)
        self.child.close()
        assert self.child.signalstatus is None
        status: int = self.child.exitstatus
        return status

    @property
    def output(self) -> str:
        return self.screen.getvalue()


def store(name: str, value: str = SECRET, env: dict[str, str] | None = None) -> None:
    result = invoke("token", "set", "--name", name, "--stdin", input=value, env=env)
    assert result.exit_code == 0, result.stderr


# -- the hidden value prompt -------------------------------------------------------------------

def test_set_prompts_hidden_twice_and_asks_again_on_mismatch() -> None:
    term = Terminal("token", "set", "--name", "t1")
    term.answer("Token value: ", SECRET)
    term.answer("Repeat for confirmation: ", SECRET + "-typo")
    term.expect("do not match")
    term.answer("Token value: ", SECRET)
    term.answer("Repeat for confirmation: ", SECRET)
    assert term.finish() == 0
    assert "stored 't1' in the file store" in term.output
    assert find_leaks(SECRET, term.output) == []  # the terminal never echoed it
    assert stored_value("t1") == SECRET


def test_update_prompts_hidden_for_the_new_value() -> None:
    store("t1", "old-value")
    term = Terminal("token", "update", "--name", "t1")
    term.answer("New token value: ", SECRET)
    term.answer("Repeat for confirmation: ", SECRET)
    assert term.finish() == 0
    assert find_leaks(SECRET, term.output) == []
    assert stored_value("t1") == SECRET


def test_stdin_typed_at_a_terminal_says_how_to_finish() -> None:
    term = Terminal("token", "set", "--name", "t1", "--stdin")
    term.expect("until Ctrl-D; it is shown as you type")
    term.child.sendline("typed-value")
    term.child.sendeof()
    assert term.finish() == 0
    assert stored_value("t1") == "typed-value"


def test_set_refuses_an_existing_name_before_prompting() -> None:
    store("t1")
    term = Terminal("token", "set", "--name", "t1")
    assert term.finish() == 5
    assert "Token value" not in term.output
    assert "already exists" in term.output


def test_an_empty_prompted_value_is_refused() -> None:
    term = Terminal("token", "set", "--name", "t1")
    term.answer("Token value: ", "")
    # click asks again for an empty answer rather than accepting it
    term.answer("Token value: ", SECRET)
    term.answer("Repeat for confirmation: ", SECRET)
    assert term.finish() == 0


def test_ctrl_c_at_the_prompt_exits_130() -> None:
    term = Terminal("token", "set", "--name", "t1")
    term.expect("Token value: ")
    term.interrupt()
    assert term.finish() == 130
    assert "interrupted" in term.output
    assert "Traceback" not in term.output
    assert invoke("token", "list", "--json").stdout.strip() == "[]"


# -- confirmations -------------------------------------------------------------------------------

@pytest.mark.parametrize(("reply", "shown"), [("y", True), ("yes", True), ("n", False),
                                              ("", False)])
def test_export_asks_before_printing(reply: str, shown: bool) -> None:
    store("t1")
    term = Terminal("token", "get", "--name", "t1", "--export")
    term.answer("Print the secret value of 't1'? [y/N]: ", reply)
    status = term.finish()
    assert (SECRET in term.output) is shown
    if shown:
        assert status == 0
    else:
        assert status == 1
        assert "aborted; nothing was changed" in term.output


def test_export_with_yes_does_not_ask() -> None:
    store("t1")
    term = Terminal("token", "get", "--name", "t1", "--export", "--yes")
    assert term.finish() == 0
    assert "[y/N]" not in term.output
    assert SECRET in term.output


@pytest.mark.parametrize(("reply", "deleted"), [("y", True), ("n", False), ("", False)])
def test_delete_asks_first(reply: str, deleted: bool) -> None:
    store("t1")
    term = Terminal("token", "delete", "--name", "t1")
    term.answer("Delete token 't1' from the file store? [y/N]: ", reply)
    assert term.finish() == (0 if deleted else 1)
    names = invoke("token", "list").stdout.splitlines()[1:]
    assert (names == []) is deleted


def test_ctrl_c_at_a_confirmation_exits_130() -> None:
    store("t1")
    term = Terminal("token", "delete", "--name", "t1")
    term.expect("[y/N]: ")
    term.interrupt()
    assert term.finish() == 130
    assert stored_value("t1") == SECRET


def test_ci_true_turns_prompts_off_even_on_a_terminal() -> None:
    store("t1")
    for args, needle in ((["set", "--name", "t2"], "--stdin"),
                         (["delete", "--name", "t1"], "--yes"),
                         (["get", "--name", "t1", "--export"], "--yes")):
        term = Terminal("token", *args, env={"CI": "true"})
        assert term.finish() == 13
        assert needle in term.output
        assert "[y/N]" not in term.output and "Token value" not in term.output
    assert stored_value("t1") == SECRET


# -- the passphrase prompt --------------------------------------------------------------------

def _passphrase_config(tmp_path: Path) -> Path:
    config = tmp_path / "mcp-router.yaml"
    config.write_text("version: 1\nadvanced:\n  secure_storage:\n    backend: file\n"
                      "    file_passphrase: true\n")
    return config


def test_config_asks_for_a_passphrase_when_creating_the_file(tmp_path: Path) -> None:
    passphrase = "correct horse battery staple"
    config = str(_passphrase_config(tmp_path))
    term = Terminal("--config", config, "token", "set", "--name", "t1", backend=None)
    term.answer("Token value: ", SECRET)
    term.answer("Repeat for confirmation: ", SECRET)
    term.answer("Passphrase for the token file: ", passphrase)
    term.answer("Repeat for confirmation: ", passphrase)
    assert term.finish() == 0
    assert find_leaks(passphrase, term.output) == find_leaks(SECRET, term.output) == []

    # Without the passphrase and without a terminal the file stays locked (exit 7) ...
    result = invoke("token", "get", "--name", "t1", "--export", "--yes")
    assert result.exit_code == 7
    # ... and with it, the value comes back.
    result = invoke("token", "get", "--name", "t1", "--export", "--yes",
                    env={"MCP_ROUTER_PASSPHRASE": passphrase})
    assert result.stdout == SECRET + "\n"


def test_a_file_with_a_passphrase_prompts_for_it(tmp_path: Path) -> None:
    passphrase = "a passphrase from the environment"
    store("t1", env={"MCP_ROUTER_PASSPHRASE": passphrase})

    term = Terminal("token", "get", "--name", "t1", "--export")
    term.answer("[y/N]: ", "y")
    term.answer("Passphrase for the token file: ", passphrase)
    assert term.finish() == 0
    assert term.output.count("Passphrase for the token file") == 1  # no confirmation
    assert SECRET in term.output and find_leaks(passphrase, term.output) == []

    term = Terminal("token", "get", "--name", "t1", "--export", "--yes")
    term.answer("Passphrase for the token file: ", "not the passphrase")
    assert term.finish() == 9
    assert find_leaks(SECRET, term.output) == []

    # The environment variable wins over the prompt.
    term = Terminal("token", "get", "--name", "t1", "--export", "--yes",
                    env={"MCP_ROUTER_PASSPHRASE": passphrase})
    assert term.finish() == 0
    assert "Passphrase" not in term.output and SECRET in term.output
