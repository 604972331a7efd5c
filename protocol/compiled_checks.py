"""A record type's field checks compiled into one function, for decoding on the ingest hot path.

Running a record's checks one call per field costs about 0.3 µs a field, a tenth of the non-signature
work of ingesting a receipt. As ``dataclasses`` compiles ``__init__``, this module compiles the checks
of a whole record into one generated function with the tests inlined:

    fields = compile_checks("Receipt", checks, skip=1)(values)   # values: [version, field, field, ...]

It returns the dict of checked (normalised) field values, or None when a field is missing or any
value fails its inline test. The inline tests are the fast path only: on None the caller runs the
checks themselves, which raise the precise error, so error messages live in one place. A check takes
part by offering ``inline(var, constant) -> (test, value) | None``, two Python expressions over the
variable ``var``: ``test`` is true only for values the check accepts, and ``value`` is what the check
returns for them. ``constant(obj)`` names an object in the generated code's namespace. Checks without
``inline`` (or whose ``inline`` returns None) are called as usual from the generated code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Any

CompiledChecks = Callable[[Sequence[Any]], dict[str, Any] | None]
Constant = Callable[[object], str]  # names an object in the generated code's namespace
Inline = tuple[str, str] | None  # (test, value) as Python source, or None: call the check itself


def literal(bound: int) -> str:
    """An integer parameter of a check as Python source; refuses anything else (e.g. ``float("inf")``, whose
    repr would not read back), so that what the generated code tests is what the check tests."""
    return repr(operator.index(bound))


def compile_checks(record_name: str, checks: Sequence[tuple[str, str, Any]], *, skip: int = 0) -> CompiledChecks:
    """Compile ``checks`` ((field name, name for errors, check) in wire order) into one function over
    a list of values whose fields start after ``skip`` other values; values after the fields are ignored."""
    namespace: dict[str, Any] = {}

    def constant(obj: object) -> str:
        name = f"_k{len(namespace)}"
        namespace[name] = obj
        return name

    tests: list[str] = []
    items: list[str] = []
    for position, (name, what, check) in enumerate(checks):
        var = f"v{position}"
        inline = getattr(check, "inline", None)
        try:
            parts = inline(var, constant) if inline is not None else None
        except TypeError:  # a parameter ``literal`` refuses (e.g. a float bound): the check is called instead
            parts = None
        if parts is None:  # called as it is: it raises its own error on a bad value
            items.append(f"{name!r}: {constant(check)}({what!r}, {var})")
        else:
            test, value = parts
            tests.append(f"({test})")
            items.append(f"{name!r}: {value}")
    names = ["_"] * skip + [f"v{i}" for i in range(len(checks))]
    lines = [
        "def checked_fields(values):",
        f"    if len(values) < {len(names)}:",
        "        return None",
        *([f"    {', '.join(names)}, = values[:{len(names)}]"] if names else []),
        *([f"    if not ({' and '.join(tests)}):", "        return None"] if tests else []),
        f"    return {{{', '.join(items)}}}",
    ]
    source = "\n".join(lines)
    code = compile(source, f"<checks of {record_name}>", "exec")
    exec(code, namespace)
    function: CompiledChecks = namespace["checked_fields"]
    function.__doc__ = f"The checked fields of a {record_name}, or None if any fails its inline test.\n\n{source}"
    return function
