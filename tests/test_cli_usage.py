"""Usage errors are one line naming the option (exit code 2), and help shows what to type."""

from __future__ import annotations

import subprocess
import sys

import pytest

from burnish.cli.app import app

from conftest import run_cli

COMMANDS = sorted(name for name in (c.name for c in app.registered_commands) if name)




@pytest.mark.parametrize(("args", "named", "says"), [
    (["upscale", "x.png", "--scale", "0"], "--scale", "0 is not in the range x>=1"),
    (["upscale", "x.png", "--tile", "-5"], "--tile", "-5 is not in the range x>=0"),
    (["upscale", "x.png", "--quality", "101"], "--quality", "101 is not in the range"),
    (["upscale", "x.png", "--batch", "two"], "--batch", "'two'"),
    (["remove", "x.png", "--dilate", "-1"], "--dilate", "-1 is not in the range x>=0"),
    (["remove", "x.png", "--patch", "2"], "--patch", "2 is not in the range x>=3"),
    (["remove", "x.png", "--seed", "text"], "--seed", "'text'"),
    (["remove", "x.png", "--seed=-1"], "--seed", "-1 is not in the range x>=0"),
    (["remove", "x.png", "--feather", "lots"], "--feather", "'lots'"),
    (["run", "r.toml", "in/", "-o", "out", "--jobs", "0"], "--jobs", "0 is not in the range"),
    (["run", "r.toml", "in/"], "--output", "missing"),
    (["upscale"], "INPUTS", "missing"),
    (["revert", "x.png", "--to", "-3"], "--to", "-3 is not in the range"),
    (["upscale", "x.png", "--no-such-option"], "--no-such-option", "no such option"),
    (["no-such-command"], "no-such-command", "no such command"),
])
def test_usage_errors_are_one_line_with_exit_code_two(monkeypatch, capsys, args, named, says):
    code, out, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("burnish: error: ")
    assert named in lines[0] and says in lines[0], lines[0]
    assert "╭" not in err and "Traceback" not in err and out == ""


@pytest.mark.parametrize("command", COMMANDS)
def test_help_shows_words_not_python_types(monkeypatch, capsys, command):
    code, out, _ = run_cli(monkeypatch, capsys, command, "--help")
    assert code == 0
    for python_type in ("<bool>", "<list[", "{inputs}", "{recipe}", "{image}"):
        assert python_type not in out, f"{command} --help shows {python_type}"


def test_usage_shows_arguments_as_words(monkeypatch, capsys):
    _, out, _ = run_cli(monkeypatch, capsys, "run", "--help")
    assert "Usage: burnish run [OPTIONS] RECIPE INPUTS..." in out


def test_a_real_process_prints_one_line_and_exits_two(tmp_path):
    done = subprocess.run([sys.executable, "-m", "burnish.cli.app", "upscale", "x.png",
                           "--scale", "0"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == "burnish: error: --scale: 0 is not in the range x>=1"


def _raised_texts(path):
    """The string constants inside every ``raise`` of a module."""
    import ast

    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for inner in ast.walk(node.exc):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    yield node.lineno, inner.value


# MaskSpec is the command line's own description of `burnish remove`'s flags.
FLAG_MENTIONS_ALLOWED = {("engine/removal/object_removal.py", "say what to remove: --mask, --box, --polygon, "
                          "--alpha, --key or --detect"),
                         # a command to run once, which the issue asks the error to name
                         ("models/trt_engine.py", ": build it once with `burnish export --engine ")}


def test_library_errors_name_options_as_python_does():
    """Library code raises errors that read right from Python, recipes and every command:
    an option is named as the API spells it, in parentheses ("(max_pixels)"), and only the
    command line turns that into a flag. A "--flag" in library text is a CLI hint leaking."""
    import re
    from pathlib import Path

    import burnish

    root = Path(burnish.__file__).parent
    leaks = []
    for package in ("engine", "models", "kernels", "export"):
        for path in sorted((root / package).rglob("*.py")):
            relative = str(path.relative_to(root))
            for line, text in _raised_texts(path):
                if re.search(r"(^|[\s(])--[a-z]", text) and (relative, text) not in FLAG_MENTIONS_ALLOWED:
                    leaks.append(f"{relative}:{line}: {text!r}")
    assert not leaks, "\n".join(leaks)


def test_the_command_line_spells_option_mentions_as_flags():
    from burnish.cli.render import command_line_spelling

    assert command_line_spelling("raise the limit (max_pixels)") == "raise the limit (--max-pixels)"
    assert command_line_spelling("run on the CPU (device cpu)") == "run on the CPU (--device cpu)"
    assert command_line_spelling("a word (not an option) (colour)") == "a word (not an option) (colour)"
