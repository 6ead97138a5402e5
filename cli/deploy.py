"""`tidings deploy render DIR [--check]`: write the deployment files that follow from the channel
registry (cli/deploy_render.py) into a checkout, or say how the ones there differ from them.

DIR is a checkout (or a copy of its deploy/ and docker-compose.yml): the renderer writes
DIR/deploy/k8s/<service>.yaml, keda.yaml, kustomization.yaml, DIR/docker-compose.yml and
DIR/deploy/prometheus/prometheus.yml, and removes generated manifests of channels that are gone.
The hand-written files (ConfigMap, Secret example, init Job, prune CronJob, alert rules) stay."""
from __future__ import annotations

import argparse
import sys
from typing import IO

from cli.generated_files import Generated

COMMAND = "tidings deploy render ."


def add_parser(verbs) -> None:
    deploy = verbs.add_parser("deploy", help="deployment files generated from the channel registry")
    actions = deploy.add_subparsers(dest="deploy_verb", required=True, metavar="ACTION")
    render_ = actions.add_parser("render", help="write the Kubernetes manifests, KEDA ScaledObjects, compose "
                                                "services and Prometheus scrape jobs of every channel into DIR")
    render_.add_argument("dir", metavar="DIR", help="a checkout: files go to DIR/deploy/... and DIR/docker-compose.yml")
    render_.add_argument("--check", action="store_true",
                         help="write nothing; print the differences and exit 1 when DIR is not up to date")


def _generated():
    from cli.deploy_render import render, stale  # jinja2 and the registry: only for this verb

    return Generated("tidings deploy render", "file(s)", "service", lambda root: render(), stale)


def deploy_command(args: argparse.Namespace, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    return _generated().run(args, out, err)
