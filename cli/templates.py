"""`tidings templates push DIR | list | show ID | render ID | delete ID`: templates kept as files in git and
pushed to Postgres, where the router reads them. A push stores all templates or none."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.stores import connect
from consumer.channel_specs import channel_names
from consumer.settings import Settings
from router.render_pool import RenderPool
from router.template_store import TemplateInvalid, TemplateStore
from router.templates import RenderError, Template, part_name, template_context

METADATA = "template.json"


class TemplateFilesInvalid(ValueError):
    pass


def read_directory(root: Path) -> tuple[list[dict], dict[str, Path]]:
    """Templates from DIR/<name>/<channel>.<part>[.<locale>].j2 (+ template.json with
    "description" and "sample"), or DIR itself when it holds .j2 files. Returns them and a map
    from each part's name (as in RenderError.where) to its file."""
    if not root.is_dir():
        raise TemplateFilesInvalid(f"{root}: not a directory")
    dirs = [root] if any(root.glob("*.j2")) else sorted(d for d in root.iterdir() if d.is_dir() and
                                                          (any(d.glob("*.j2")) or (d / METADATA).exists()))
    if not dirs:
        raise TemplateFilesInvalid(f"{root}: no templates (expected <name>/<channel>.<part>[.<locale>].j2 files)")
    templates, files = [], {}
    for directory in dirs:
        name = directory.name
        template: dict = {"name": name, "parts": {}, "sample": {}, "description": None}
        if (directory / METADATA).exists():
            try:
                meta = json.loads((directory / METADATA).read_text())
            except ValueError as exc:
                raise TemplateFilesInvalid(f"{directory / METADATA}: not JSON: {exc}") from None
            if not isinstance(meta, dict) or set(meta) - {"description", "sample"}:
                raise TemplateFilesInvalid(f"{directory / METADATA}: expected {{\"description\": ..., \"sample\": {{...}}}}")
            template.update(meta)
        for path in sorted(directory.glob("*.j2")):
            pieces = path.name[:-len(".j2")].split(".")
            if len(pieces) not in (2, 3):
                raise TemplateFilesInvalid(f"{path}: expected a name like email.subject.j2 or email.html.pt-BR.j2")
            channel, part, locale = pieces[0], pieces[1], pieces[2] if len(pieces) == 3 else "default"
            template["parts"].setdefault(channel, {}).setdefault(locale, {})[part] = path.read_text()
            files[f"{name}/{part_name(channel, part, locale)}"] = path
        templates.append(template)
    return templates, files


def templates_command(args: argparse.Namespace, settings: Settings) -> int:
    templates, files = [], {}
    if args.templates_verb == "push":
        try:
            templates, files = read_directory(Path(args.dir))
        except TemplateFilesInvalid as exc:
            print(f"tidings: {exc}", file=sys.stderr)
            return 1
    conn = connect(settings)
    if conn is None:
        return 2
    renderer = RenderPool.from_settings(settings)  # a runaway template is stopped with its worker process
    try:
        with conn:
            return _run_verb(args, TemplateStore(conn, renderer), templates, files)
    finally:
        renderer.close()


def _run_verb(args: argparse.Namespace, store: TemplateStore, templates: list[dict], files: dict[str, Path]) -> int:
    if args.templates_verb == "push":
        return _push(store, templates, files, Path(args.dir))
    if args.templates_verb == "list":
        return _list(store, args.json)
    if args.templates_verb == "delete":
        if not store.retire(args.id):
            print(f"tidings: no template {args.id!r}", file=sys.stderr)
            return 1
        print(f"retired {args.id}: events naming it without a version no longer render; pinned versions still do")
        return 0
    found = store.show(args.id, args.version)
    if found is None:
        print(f"tidings: no template {args.id!r}" + (f" version {args.version}" if args.version else ""),
              file=sys.stderr)
        return 1
    if args.templates_verb == "show":
        print(json.dumps(found, indent=2, ensure_ascii=False))
        return 0
    return _render(store, found, args)


def _push(store: TemplateStore, templates: list[dict], files: dict[str, Path], root: Path) -> int:
    try:
        results = store.push(templates)
    except TemplateInvalid as exc:
        for error in exc.errors:
            path = files.get(error.where) or root / error.where.split("/")[0]
            print(f"{path}:{error.line or 0}: {error.kind}: {error.detail}", file=sys.stderr)
        print(f"tidings: {len(exc.errors)} error(s); nothing was stored", file=sys.stderr)
        return 1
    for result in results:
        state = "new version" if result["changed"] else "unchanged"
        print(f"{result['name']}: version {result['version']} ({state})")
    return 0


def _list(store: TemplateStore, as_json: bool) -> int:
    rows = store.list()
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<32} {'latest':>6} {'versions':>8}  {'channels':<28} updated")
    for row in rows:
        print(f"{row['name']:<32} {row['latest_version']:>6} {row['versions']:>8}  "
              f"{','.join(row['channels']):<28} {row['updated_at']}")
    return 0


def _render(store: TemplateStore, found: dict, args: argparse.Namespace) -> int:
    try:
        data = json.loads(args.data) if args.data is not None else found["sample"]
    except ValueError as exc:
        print(f"tidings: --data is not JSON: {exc}", file=sys.stderr)
        return 1
    if not isinstance(data, dict):
        print("tidings: --data must be a JSON object", file=sys.stderr)
        return 1
    template = Template(found["name"], found["version"], found["parts"], found["sample"])
    event = {"id": "00000000-0000-0000-0000-000000000000", "category": args.category, "source": "preview",
             "tenant": "default", "priority": "NORMAL"}
    context = template_context(data, {"id": "preview", "locale": args.locale}, event)
    try:
        parts = store.renderer.render_channel(template, args.channel, args.locale, context)
    except RenderError as exc:
        print(f"tidings: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({"template": template.ref, "channel": args.channel, "parts": parts}, indent=2, ensure_ascii=False))
    return 0


def add_parser(verbs) -> None:
    """`templates` and its actions, for cli/main.py."""
    templates = verbs.add_parser("templates", help="push, list, show, preview and retire templates (Postgres)")
    actions = templates.add_subparsers(dest="templates_verb", required=True, metavar="ACTION")
    push = actions.add_parser("push", help="validate and store a directory of template files (all or nothing)")
    push.add_argument("dir", help="DIR/<name>/<channel>.<part>[.<locale>].j2 files and an optional template.json")
    delete = actions.add_parser("delete", help="retire a template (pinned versions still render)")
    delete.add_argument("id")
    listing = actions.add_parser("list", help="templates with their latest version")
    listing.add_argument("--json", action="store_true", help="print JSON")
    for action, text in (("show", "a stored template as JSON"), ("render", "preview a rendering")):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("id", help="template name")
        parser.add_argument("--version", type=int, help="a stored version (default: the latest)")
    render = actions.choices["render"]
    render.add_argument("--channel", required=True, choices=channel_names())
    render.add_argument("--locale", help="e.g. pt-BR (falls back to pt, then default)")
    render.add_argument("--data", help="template data as a JSON object (default: the template's sample)")
    render.add_argument("--category", default="general", help="notification category seen by the template")
