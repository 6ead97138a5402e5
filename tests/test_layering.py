"""The CLI and the gateway are two front ends over the same modules (tracking/, consumer/): neither
imports the other's code. The one exception is the launcher, cli/gateway.py: `tidings run gateway`
starts the gateway's app as `tidings run <service>` starts every service, with its settings model."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The launcher starts the gateway's app and reads the gateway's own settings model (for `config show`).
LAUNCHER = {("cli/gateway.py", "gateway.app"), ("cli/gateway.py", "gateway.settings"),
            ("cli/gateway.py", "gateway.settings.GatewaySettings")}


def imports(package: str) -> set[tuple[str, str]]:
    """(file, imported module) for every import in the package, at any depth of the code."""
    found = set()
    for path in sorted((ROOT / package).rglob("*.py")):
        name = str(path.relative_to(ROOT))
        for node in ast.walk(ast.parse(path.read_text(), filename=name)):
            if isinstance(node, ast.Import):
                found |= {(name, alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add((name, node.module))
                # `from cli import dlq` names a module too
                found |= {(name, f"{node.module}.{alias.name}") for alias in node.names}
    return found


def of_package(found: set[tuple[str, str]], package: str) -> set[tuple[str, str]]:
    return {(file, module) for file, module in found if module == package or module.startswith(package + ".")}


def test_the_cli_and_the_gateway_never_import_each_other():
    cli, gateway = imports("cli"), imports("gateway")
    assert ("cli/gateway.py", "gateway.app") in cli and len(gateway) > 50  # the walk sees what is there
    assert of_package(gateway, "cli") == set()
    assert {(file, module) for file, module in of_package(cli, "gateway")
            if not module.startswith("gateway.app.")} == LAUNCHER
