"""How the command line speaks: usage errors as one line, library log records as one line,
and help that shows what to type (``RECIPE INPUT...``, ``--tile N``), not Python types."""

from __future__ import annotations

import functools
import logging
import re

import typer
from typer.core import TyperArgument, TyperCommand

# pydantic's error types that typer raises for ``min=`` / ``max=`` options
_RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def usage_error_line(error: typer.TyperException) -> str:
    """One line for a usage error: ``--scale: 0 is not in the range x>=1``.

    Typer's own rendering is a box of five or six lines; a script parsing stderr, or a person
    reading a batch log, needs the option, the value and the rule on one line.
    """
    param = getattr(error, "param", None)
    message = " ".join(str(getattr(error, "message", "") or error.format_message()).split())
    message = message[:1].lower() + message[1:].rstrip(".")
    if param is None:
        context = getattr(error, "ctx", None)
        help_hint = f" (see {context.command_path} --help)" if context is not None else ""
        return f"{message}{help_hint}"
    name = _param_name(param)
    problem = _validation_problem(error)
    if problem is None:
        if type(error).__name__ == "MissingParameter":
            return f"{name}: missing (see {error.ctx.command_path} --help)"
        return f"{name}: {message}"
    kind, value = problem
    rule = getattr(param, "_get_number_range_help_str", lambda: None)()
    if kind in _RANGE_ERRORS and rule:
        return f"{name}: {value} is not in the range {rule}"
    return f"{name}: {value!r} is not valid: {message}"


def _param_name(param) -> str:
    """``--scale`` for an option (its longest flag), ``INPUT`` for an argument."""
    if isinstance(param, TyperArgument):
        return param.metavar or param.name.upper()
    flags = sorted(param.opts, key=len)
    return flags[-1] if flags else param.name


def _validation_problem(error: BaseException) -> tuple[str, str] | None:
    """``(error type, raw value)`` from the pydantic validation error typer chains, if any."""
    cause = error.__cause__ or error.__context__
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        first = errors()[0]
        return str(first["type"]), str(first["input"])
    except (IndexError, KeyError, TypeError):
        return None


class CommandWithPlainUsage(TyperCommand):
    """A command whose help names arguments as ``RECIPE INPUT...`` and shows no ``<bool>`` or
    ``<list[Path]>``: the reader types words and files, not Python annotations."""

    def get_params(self, ctx) -> list:
        params = super().get_params(ctx)  # with --help, which typer adds here
        for param in params:
            if isinstance(param, TyperArgument):
                if param.metavar is None:
                    param.metavar = param.name.upper() + ("..." if param.nargs != 1 else "")
                param.display_type_rich = _no_type  # the metavar says it
            elif getattr(param, "is_flag", False):
                param.display_type_rich = _no_type
        return params

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                pieces.append(param.metavar if param.required else f"[{param.metavar}]")
        return pieces


def _no_type(ctx=None) -> None:
    return None


class OneLineLog(logging.Handler):
    """Library log records (INFO and above) as ``burnish: ...`` lines on stderr.

    The library logs what a person should know but that is not an error: a first-use compile,
    frames of an animated input that are not read, temporary files of an interrupted run
    removed. ``typer.echo`` looks up ``sys.stderr`` at each call, so lines land above a live
    progress bar (rich redirects stderr while it draws).
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = " ".join(record.getMessage().split())
        except Exception:  # noqa: BLE001 - a bad format string must not stop the job
            self.handleError(record)
            return
        level = "warning: " if record.levelno >= logging.WARNING else ""
        typer.echo(f"burnish: {level}{text}", err=True)


def log_to_stderr(level: int = logging.INFO) -> None:
    """Route the ``burnish`` loggers through :class:`OneLineLog` (once per process)."""
    logger = logging.getLogger("burnish")
    if not any(isinstance(handler, OneLineLog) for handler in logger.handlers):
        logger.addHandler(OneLineLog())
    logger.setLevel(level)
    # still propagating: the root logger has no handler in the CLI (so nothing prints twice),
    # and handlers a host program or a test put there keep seeing burnish's records


# An option named in a library message: "(max_pixels)", "(device cpu)"
_OPTION_MENTION = re.compile(r"\((?P<name>[a-z][a-z_]*)(?P<value> [^()]*)?\)")


def command_line_spelling(text: str) -> str:
    """A library message as the command line says it.

    Library messages name an option as the Python API does, in parentheses (``raise the limit
    (max_pixels)``, ``run on the CPU (device cpu)``), so they read right from Python, in
    recipes and from every command. Here, where the flags are known, each such mention of a
    real option becomes its flag: ``(--max-pixels)``, ``(--device cpu)``.
    """
    flags = _option_flags()

    def spelled(match: re.Match) -> str:
        flag = flags.get(match["name"])
        return f"({flag}{match['value'] or ''})" if flag else match[0]

    return _OPTION_MENTION.sub(spelled, text)


@functools.cache
def _option_flags() -> dict[str, str]:
    """Every command's options: Python name -> long flag (``max_pixels`` -> ``--max-pixels``)."""
    import typer.main

    from burnish.cli.app import app

    flags: dict[str, str] = {}
    commands = [typer.main.get_command(app)]
    while commands:
        command = commands.pop()
        for param in command.params:
            if param.param_type_name == "option" and param.name:
                flags.setdefault(param.name, max(param.opts, key=len))
        commands.extend(getattr(command, "commands", {}).values())
    return flags
