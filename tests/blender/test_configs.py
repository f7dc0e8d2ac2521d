"""One config per backend command (``ps4pro_blender/configs.py``): the backend's command line, the
operators' arguments and the panel's settings agree on every option they share, in name, default
and limits, because all three are made from it."""

import importlib

import bpy
import pytest

from conftest import ADDON

# operator id -> backend command
OPERATORS = {"reconstruct": "reconstruct", "augment": "augment", "fuse_depth": "fuse-depth",
             "snapshot_encode": "snapshot-encode", "snapshot_decode": "snapshot-decode"}


def _mods():
    configs = importlib.import_module(f"{ADDON}.ps4pro_blender.configs")
    cli = importlib.import_module(f"{ADDON}.ps4pro_blender.cli")
    return configs, cli


def _command(cli, configs, command):
    """The command as the backend builds its parser (its module imports torch, which Blender lacks)."""
    return cli.Command(command, "", run=None, config=configs.CONFIGS[command])


def _cli_options(cli, configs, command):
    parser = cli.command_parser(_command(cli, configs, command))
    return {a.dest: a for a in parser._actions}


def _blender_value(value):
    return "" if value is None else value  # an unset path is an empty string property


@pytest.mark.parametrize("op_id, command", sorted(OPERATORS.items()))
def test_cli_operator_and_panel_agree_on_every_shared_option(addon, op_id, command):
    configs, cli = _mods()
    config = configs.CONFIGS[command]
    options = _cli_options(cli, configs, command)
    op_props = getattr(bpy.ops.ps4pro, op_id).get_rna_type().properties
    panel_props = bpy.context.scene.ps4pro.bl_rna.properties
    shared = 0
    for f, kind in configs.fields(config):
        m = f.metadata
        # The command line: the flag, the default and the choices come from the config.
        action = options[f.name]
        assert m["positional"] or action.default == f.default, (command, f.name)
        if m["choices"]:
            assert list(action.choices) == list(m["choices"]), (command, f.name)
        if not m["positional"]:
            assert configs.flag(f) in action.option_strings
        # The operator argument and the panel setting, where the panel shows the option. The
        # positional one (the dataset, the PNG) is the job's subject, which an operator chooses by
        # its own rule (empty: the last one made).
        name = m["prop"] or f.name
        if name not in op_props or m["positional"]:
            continue
        shared += 1
        for props in (op_props, panel_props):
            prop = props[name]
            if prop.type == "ENUM":
                assert [i.identifier.lower() for i in prop.enum_items] == list(m["choices"]), name
                assert prop.default.lower() == f.default, name
                continue
            expect = _blender_value(f.default)
            # Blender stores floats in single precision.
            assert prop.default == (pytest.approx(expect, rel=1e-6) if prop.type == "FLOAT" else expect), name
            if prop.type in ("INT", "FLOAT"):
                if m["lo"] is not None:
                    assert prop.hard_min == pytest.approx(m["lo"]), name
                if m["hi"] is not None:
                    assert prop.hard_max == pytest.approx(m["hi"]), name
            assert prop.description.lower() == m["doc"].lower(), name
    assert shared, f"{op_id} shares no option with {command}"


def test_every_option_says_what_it_is(addon):
    configs, _ = _mods()
    for command, config in configs.CONFIGS.items():
        for f, _ in configs.fields(config):
            assert f.metadata["doc"], (command, f.name)


def test_an_operator_job_runs_with_the_config_it_records(addon, tmp_path):
    """The argv an operator builds parses back to the config it built (what job.json records)."""
    configs, cli = _mods()
    config = configs.ReconstructConfig(dataset=str(tmp_path), out=str(tmp_path / "r"), steps=30, plane_res=64,
                                       depth_loss=0.25, resume=str(tmp_path / "r" / "checkpoint.pt"))
    argv = configs.to_argv(config)
    _, parsed, _ = cli.parse(_command(cli, configs, "reconstruct"), argv)
    assert parsed == config
    assert "--plane-res" in argv and "--minutes" not in argv  # only what differs from the defaults
