"""``blender -c ps4pro <command> [options]``: the operators from Blender's command line.

Each command's options are generated from its operator's properties, so the command line,
scripts and the panel share one set of arguments:

    blender -b scene.blend -c ps4pro capture --source ORBIT --orbit-count 24 --output-dir /tmp/cap
    blender -b scene.blend -c ps4pro fuse-depth --dataset /tmp/cap --save /tmp/fused.blend
"""

from __future__ import annotations

import argparse
import sys

import bpy

# command -> operator id (bpy.ops.ps4pro.<id>)
COMMANDS = {
    "capture": "capture",
    "augment": "augment",
    "reconstruct": "reconstruct",
    "snapshot-encode": "snapshot_encode",
    "snapshot-decode": "snapshot_decode",
    "fuse-depth": "fuse_depth",
    "import": "import_result",
    "check": "check_backend",
}

_handle = None


def _operator(op_id):
    return getattr(bpy.ops.ps4pro, op_id)


def _add_option(parser, prop):
    flag = "--" + prop.identifier.replace("_", "-")
    kw = {"dest": prop.identifier, "help": prop.description or prop.name, "default": argparse.SUPPRESS}
    if prop.type == "BOOLEAN":
        parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
    elif prop.type == "ENUM":
        parser.add_argument(flag, choices=[item.identifier for item in prop.enum_items], **kw)
    elif prop.type == "INT":
        parser.add_argument(flag, type=int, **kw)
    elif prop.type == "FLOAT":
        parser.add_argument(flag, type=float, **kw)
    elif prop.type == "STRING":
        parser.add_argument(flag, **kw)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="blender -c ps4pro", description="PS4PRO from the command line")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, op_id in COMMANDS.items():
        rna = _operator(op_id).get_rna_type()
        p = sub.add_parser(name, help=rna.description, description=rna.description)
        p.add_argument("--open", metavar="FILE.blend", help="open this .blend first")
        p.add_argument("--save", metavar="FILE.blend", help="save the .blend when done")
        for prop in rna.properties:
            if prop.identifier != "rna_type" and not prop.is_hidden:
                _add_option(p, prop)
    return parser


def execute(argv) -> int:
    """Runs one command; returns the process exit code (0 on success)."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # argparse's own exit (--help, bad option)
        return int(exc.code or 0)
    kwargs = {k: v for k, v in vars(args).items() if k not in ("command", "open", "save")}
    try:
        if args.open:
            bpy.ops.wm.open_mainfile(filepath=args.open)
        result = _operator(COMMANDS[args.command])(**kwargs)
    except RuntimeError as exc:  # the operator reported an error; Blender already printed it
        print(f"ps4pro {args.command}: {exc}".strip(), file=sys.stderr)
        return 1
    if result != {"FINISHED"}:
        print(f"ps4pro {args.command}: {', '.join(result)}", file=sys.stderr)
        return 1
    if args.save:
        bpy.ops.wm.save_as_mainfile(filepath=args.save)
    return 0


def register():
    global _handle
    if hasattr(bpy.utils, "register_cli_command"):  # Blender 4.2+
        _handle = bpy.utils.register_cli_command("ps4pro", execute)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None
