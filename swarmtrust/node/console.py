"""Running a typer app as a command: domain errors, and a role's missing dependencies, become one line on stderr
and exit status 1."""

from __future__ import annotations

import sys

import typer

from swarmtrust.protocol.errors import SwarmtrustError

ERROR_EXIT = 1
# The install extra (pyproject.toml) that brings each optional top-level module: a role's command run without
# its extra says which to install instead of a traceback.
_LEDGER_MODULES = ("sqlalchemy", "alembic", "psycopg", "fastapi", "starlette", "uvicorn", "jinja2", "multipart")
EXTRA_OF = {
    **dict.fromkeys(("torch", "transformers", "hivemind", "safetensors"), "node"),
    **dict.fromkeys((*_LEDGER_MODULES, "prometheus_client"), "ledger"),
    "matplotlib": "plots",
}


def missing_extra(exc: ModuleNotFoundError) -> str | None:
    """What to install for a module of an extra that is not installed; None for any other missing module."""
    extra = EXTRA_OF.get((exc.name or "").split(".")[0])
    if extra is None:
        return None
    return f"this command needs {exc.name}, part of the {extra!r} extra: pip install 'swarmtrust[{extra}]'"


def run_app(app: typer.Typer, prog_name: str) -> None:
    try:
        app(prog_name=prog_name)
    except SwarmtrustError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(ERROR_EXIT)
    except ModuleNotFoundError as exc:
        advice = missing_extra(exc)
        if advice is None:
            raise
        print(f"error: {advice}", file=sys.stderr)
        sys.exit(ERROR_EXIT)
