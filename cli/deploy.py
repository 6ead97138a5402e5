"""`tidings deploy render DIR [--check]`: write the deployment files that follow from the channel
registry (cli/deploy_render.py) into a checkout, or say how the ones there differ from them.

DIR is a checkout (or a copy of its deploy/ and docker-compose.yml): the renderer writes
DIR/deploy/k8s/<service>.yaml, keda.yaml, kustomization.yaml, DIR/docker-compose.yml and
DIR/deploy/prometheus/prometheus.yml, and removes generated manifests of channels that are gone.
The hand-written files (ConfigMap, Secret example, init Job, prune CronJob, alert rules) stay."""
from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path
from typing import IO

COMMAND = "tidings deploy render ."


def add_parser(verbs) -> None:
    deploy = verbs.add_parser("deploy", help="deployment files generated from the channel registry")
    actions = deploy.add_subparsers(dest="deploy_verb", required=True, metavar="ACTION")
    render_ = actions.add_parser("render", help="write the Kubernetes manifests, KEDA ScaledObjects, compose "
                                                "services and Prometheus scrape jobs of every channel into DIR")
    render_.add_argument("dir", metavar="DIR", help="a checkout: files go to DIR/deploy/... and DIR/docker-compose.yml")
    render_.add_argument("--check", action="store_true",
                         help="write nothing; print the differences and exit 1 when DIR is not up to date")


def differences(root: Path) -> list[str]:
    """What `tidings deploy render ROOT` would change: a unified diff per file that differs, and a
    line per generated file it would remove. Empty when ROOT is up to date."""
    from cli.deploy_render import render, stale  # jinja2 and the registry: only for this verb

    rendered = render()
    found = []
    for name, wanted in rendered.items():
        path = root / name
        have = path.read_text(encoding="utf-8") if path.exists() else ""
        if have != wanted:
            found.append("".join(difflib.unified_diff(have.splitlines(keepends=True), wanted.splitlines(keepends=True),
                                                      f"{name} (in {root})", f"{name} (rendered)")))
    found += [f"{name}: generated for a service that no longer exists; remove it\n" for name in stale(root, rendered)]
    return found


def write(root: Path, out: IO[str]) -> int:
    from cli.deploy_render import render, stale

    rendered = render()
    for name, content in rendered.items():
        path = root / name
        if path.exists() and path.read_text(encoding="utf-8") == content:
            print(f"{name}: unchanged", file=out)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        state = "updated" if path.exists() else "written"
        path.write_text(content, encoding="utf-8")
        print(f"{name}: {state}", file=out)
    for name in stale(root, rendered):
        (root / name).unlink()
        print(f"{name}: removed (no such service any more)", file=out)
    return 0


def deploy_command(args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    root = Path(args.dir)
    if not root.is_dir():
        print(f"tidings deploy render: {root} is not a directory", file=err)
        return 2
    if not args.check:
        return write(root, out)
    found = differences(root)
    for difference in found:
        out.write(difference)
    if found:
        print(f"tidings deploy render: {len(found)} file(s) out of date; run `{COMMAND}`", file=err)
        return 1
    return 0
