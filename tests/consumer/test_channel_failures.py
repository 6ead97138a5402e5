"""The failure classes a ChannelSpec declares (consumer/channel_specs.py, shown in docs/channels/)
are the ones its package returns: every error class written in a channel's modules is declared by
its spec, the runtime or the outbound HTTP kit, and nothing declared is gone from the code."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from consumer.channel_specs import HTTP_KIT_FAILURES, RUNTIME_FAILURES, ChannelSpec, Failure, registry
from consumer.outcomes import INTERNAL_ERROR

ROOT = Path(__file__).resolve().parents[2]
OUTCOMES = {"Transient", "Permanent", "Suppressed", "InvalidEmail"}  # first argument: the error class
# Shared helpers whose Permanent carries a class of their own (read_options: its error_class argument).
HELPERS = {"read_options": "invalid_options", "classify_http": "http_<>", "parse_url": "invalid_url"}
TABLE = re.compile(r"(^|_)(CODES|STATUSES)$")  # dicts of code -> error class (discord, twilio)
PLACEHOLDER = re.compile(r"<[^>]*>")


def shape(error_class: str) -> str:
    """`teams_http_<status>` -> `teams_http_<>`: how a declared pattern and an f-string compare."""
    return PLACEHOLDER.sub("<>", error_class)


def written_classes(source: str) -> set[str]:
    """The error classes a module's source writes: the first argument of Transient / Permanent /
    Suppressed / InvalidEmail, what is assigned to `error_class`, the values of *CODES / *STATUSES
    dicts, and the classes of the shared helpers it calls. An f-string or a concatenation gives its
    shape (`<>` for each part filled in at run time); a value only known at run time gives nothing."""
    tree = ast.parse(source)
    constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                 for target in node.targets if isinstance(target, ast.Name)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            callee = _callee(node.func)
            if callee in OUTCOMES and node.args:
                found |= _spelled(node.args[0], constants)
            elif callee in HELPERS:
                given = node.args[2] if callee == "read_options" and len(node.args) > 2 else next(
                    (k.value for k in node.keywords if k.arg == "error_class"), None)
                found |= _spelled(given, constants) if given is not None else {HELPERS[callee]}
        elif isinstance(node, ast.Assign):
            names = {t.id for t in node.targets if isinstance(t, ast.Name)}
            if "error_class" in names:
                found |= _spelled(node.value, constants)
            if any(TABLE.search(name) for name in names) and isinstance(node.value, ast.Dict):
                for value in node.value.values:
                    found |= _spelled(value, constants)
    return found


def _callee(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _spelled(node: ast.expr, constants: dict[str, str]) -> set[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.Name) and node.id in constants:
        return {constants[node.id]}
    if isinstance(node, ast.JoinedStr):
        return {"".join(v.value if isinstance(v, ast.Constant) else "<>" for v in node.values)}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = (_spelled(side, constants) or {"<>"} for side in (node.left, node.right))
        return {a + b for a in left for b in right} - {"<><>"}
    if isinstance(node, ast.IfExp):
        return _spelled(node.body, constants) | _spelled(node.orelse, constants)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_spelled(value, constants) for value in node.values))
    return set()  # a variable, an attribute, type(exc).__name__: known only at run time


def undeclared(written: set[str], declared: tuple[Failure, ...]) -> set[str]:
    shapes = {shape(failure.error_class) for failure in declared}
    return {error_class for error_class in written if error_class not in shapes}


def declared_by(spec: ChannelSpec) -> tuple[Failure, ...]:
    return (*spec.failures, *RUNTIME_FAILURES, *(HTTP_KIT_FAILURES if spec.http_kit else ()))


def package_of(spec: ChannelSpec) -> list[Path]:
    return sorted((ROOT / "channels" / spec.name).glob("*.py"))


BUILT_IN = [spec for spec in registry().values() if (ROOT / "channels" / spec.name / "spec.py").exists()]


def test_every_built_in_channel_is_checked():
    assert {spec.name for spec in BUILT_IN} >= {"apprise", "discord", "email", "push", "slack", "sms", "teams",
                                                "telegram", "webhook"}


@pytest.mark.parametrize("spec", BUILT_IN, ids=lambda spec: spec.name)
def test_every_error_class_a_channel_writes_is_declared_by_its_spec(spec):
    written = set().union(*(written_classes(path.read_text()) for path in package_of(spec)))
    if spec.options is not None:
        written |= set(getattr(spec.options, "error_classes", ()))
    missing = undeclared(written, declared_by(spec))
    assert not missing, (f"channels/{spec.name}/ returns {', '.join(sorted(missing))}: declare them in "
                         f"channels/{spec.name}/spec.py `failures` (a Failure each; `<...>` for a filled-in part)")


@pytest.mark.parametrize("spec", BUILT_IN, ids=lambda spec: spec.name)
def test_every_declared_class_is_still_in_the_code(spec):
    sources = [path.read_text() for path in package_of(spec) if path.name != "spec.py"]
    written = set().union(*(written_classes(source) for source in sources))
    strings = {node.value for source in sources for node in ast.walk(ast.parse(source))
               if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    stale = {f.error_class for f in spec.failures
             if "<" not in f.error_class and f.error_class not in written | strings}
    assert not stale, f"channels/{spec.name}/spec.py declares {', '.join(sorted(stale))}, which nothing returns"


def test_the_outbound_kit_and_the_runtime_declare_what_they_return():
    kit = set().union(*(written_classes((ROOT / "channels" / name).read_text())
                        for name in ("outbound.py", "outbound_http.py")))
    assert kit and not undeclared(kit, HTTP_KIT_FAILURES)
    assert INTERNAL_ERROR in {failure.error_class for failure in RUNTIME_FAILURES}


def test_the_check_finds_a_class_nobody_declared():
    """A new Permanent("x_y") or Transient(f"fax_http_{status}") without a declaration fails."""
    source = '''
from consumer.outcomes import Permanent, Transient
GONE = "fax_gone"
CODES = {1: "fax_busy"}
def outcome(status, reason):
    if status == 410:
        return Permanent(GONE)
    if status >= 500:
        return Transient(f"fax_http_{status}", reason)
    error_class = "fax_" + reason.lower()
    return Permanent("x_y", reason) if reason else Permanent(error_class)
'''
    written = written_classes(source)
    assert written == {"fax_gone", "fax_busy", "fax_http_<>", "x_y", "fax_<>"}
    declared = (Failure("fax_gone", "permanent", "gone"), Failure("fax_busy", "transient", "busy"),
                Failure("fax_http_<status>", "transient", "5xx"), Failure("fax_<reason>", "permanent", "refused"))
    assert undeclared(written, declared) == {"x_y"}
    assert undeclared(written, declared[:2]) == {"fax_http_<>", "x_y", "fax_<>"}


def test_a_failure_kind_is_one_of_three():
    with pytest.raises(ValueError, match="kind 'fatal'"):
        Failure("fax_gone", "fatal", "gone")
