#!/usr/bin/env python3
"""Validate, build and install the extension with Blender's own tools.

The builder and validator are Blender's ``blender_ext.py``, which ships inside Blender (and inside
the ``bpy`` wheel) and runs with plain Python; the manifest's ``[build]`` rules decide what goes
into the zip. Used by the tests (``tests/blender/conftest.py``) and from the command line::

    .venv/blender/bin/python scripts/extension_build.py build [--out dist/]   # -> dist/ps4pro-<version>.zip
    .venv/blender/bin/python scripts/extension_build.py validate [PATH]       # a source folder or a zip

Install the zip in Blender with Preferences > Get Extensions > (menu) Install from Disk.
Any Python 3.11+ can run this file; it finds ``blender_ext.py`` in its own site-packages, else in
the checkout's ``.venv/blender``, else where ``--blender-ext`` (or ``BLENDER_EXT``) points, e.g.
``<blender>/5.2/scripts/addons_core/bl_pkg/cli/blender_ext.py`` of an installed Blender.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MANIFEST = "blender_manifest.toml"
_BLENDER_EXT = Path("addons_core", "bl_pkg", "cli", "blender_ext.py")
_VENV_BLENDER = REPO / ".venv" / "blender"


class BuildError(RuntimeError):
    """Blender's tool refused; the message holds its output."""


def _in_site_packages(site: Path) -> Path | None:
    found = sorted(site.glob(f"bpy/*/scripts/{_BLENDER_EXT.as_posix()}"))
    return found[-1] if found else None


def blender_ext_script() -> Path:
    """Path of Blender's ``blender_ext.py`` (the bpy wheel's own), without importing bpy if it is not."""
    override = os.environ.get("BLENDER_EXT")
    if override:
        return Path(override)
    if "bpy" in sys.modules:
        import bpy

        return Path(bpy.utils.system_resource("SCRIPTS")) / _BLENDER_EXT
    sites = {Path(sysconfig.get_paths()["purelib"]), Path(sysconfig.get_paths()["platlib"])}
    sites.update(_VENV_BLENDER.glob("lib/python3*/site-packages"))
    for site in sorted(sites):
        found = _in_site_packages(site)
        if found:
            return found
    raise BuildError(
        "Blender's blender_ext.py was not found: run `bash scripts/setup.sh` (it installs the bpy wheel "
        "into .venv/blender), or pass --blender-ext <blender>/<version>/scripts/" + _BLENDER_EXT.as_posix()
    )


def _python_for(script: Path) -> str:
    """Run Blender's tool with this interpreter, unless it lives in .venv/blender and this is another."""
    venv_python = _VENV_BLENDER / "bin" / "python"
    try:
        in_venv = script.resolve().is_relative_to(_VENV_BLENDER.resolve())
    except OSError:
        in_venv = False
    if in_venv and venv_python.exists() and Path(sys.prefix).resolve() != _VENV_BLENDER.resolve():
        return str(venv_python)
    return sys.executable


def _run(*args: str) -> str:
    script = blender_ext_script()
    cmd = [_python_for(script), str(script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    output = (proc.stdout + proc.stderr).strip()
    # The tool reports some failures ("FATAL_ERROR: ...") on stdout; treat those as failures too.
    if proc.returncode != 0 or "FATAL_ERROR" in output:
        raise BuildError(f"blender_ext.py {args[0]} failed (exit {proc.returncode}):\n{output}")
    return output


def manifest(source: str | os.PathLike = REPO) -> dict:
    """The parsed manifest of a source folder or a built zip."""
    source = Path(source)
    if source.is_file():
        with zipfile.ZipFile(source) as zf:
            return tomllib.loads(zf.read(MANIFEST).decode("utf-8"))
    return tomllib.loads((source / MANIFEST).read_text(encoding="utf-8"))


def validate(path: str | os.PathLike = REPO) -> str:
    """Run Blender's manifest validator on a source folder or a zip; returns its output."""
    return _run("validate", str(Path(path).resolve()))


def build(repo: str | os.PathLike = REPO, out_zip: str | os.PathLike | None = None) -> Path:
    """Build the extension zip with Blender's builder and validate the result.

    ``out_zip`` is a ``.zip`` path, or a folder that gets ``<id>-<version>.zip``; default ``dist/``.
    """
    repo = Path(repo).resolve()
    out = Path(out_zip) if out_zip is not None else REPO / "dist"
    if out.suffix != ".zip":
        meta = manifest(repo)
        out = out / f"{meta['id']}-{meta['version']}.zip"
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.unlink()
    _run("build", "--source-dir", str(repo), "--output-filepath", str(out))
    if not out.is_file():
        raise BuildError(f"Blender's builder reported success but wrote no {out}")
    validate(out)
    return out


def install(zip_path: str | os.PathLike, enable: bool = True) -> str:
    """Install a built zip into the running Blender (or bpy module) and return the add-on's module name.

    In the bpy module, set ``BLENDER_USER_RESOURCES`` to a writable folder before ``import bpy``
    to keep the real user's Blender configuration out of it.
    """
    import bpy

    zip_path = Path(zip_path).resolve()
    module = f"bl_ext.user_default.{manifest(zip_path)['id']}"
    result = bpy.ops.extensions.package_install_files(
        filepath=str(zip_path), repo="user_default", enable_on_install=enable
    )
    if result != {"FINISHED"}:
        raise BuildError(f"Installing {zip_path} failed: {result}")
    if enable and module not in bpy.context.preferences.addons:
        raise BuildError(f"{zip_path} installed, but {module} is not enabled (see the output above)")
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--blender-ext", help="path of Blender's blender_ext.py (default: the bpy wheel's)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build the extension zip")
    p_build.add_argument("--out", default=None, help="output folder or .zip path (default: dist/ in the checkout)")
    p_build.add_argument("--source", default=str(REPO), help="extension source folder (default: this checkout)")
    p_validate = sub.add_parser("validate", help="validate the manifest of a source folder or zip")
    p_validate.add_argument("path", nargs="?", default=str(REPO))
    sub.add_parser("where", help="print the path of Blender's blender_ext.py")
    args = parser.parse_args(argv)
    if args.blender_ext:
        os.environ["BLENDER_EXT"] = args.blender_ext
    try:
        if args.command == "build":
            out = build(args.source, args.out)
            print(f"built {out} ({out.stat().st_size / 1024:.0f} KiB)")
            print("Install it in Blender: Preferences > Get Extensions > (menu) Install from Disk.")
        elif args.command == "validate":
            print(validate(args.path))
        else:
            print(blender_ext_script())
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
