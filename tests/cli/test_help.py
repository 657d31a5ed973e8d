"""The command line's conventions: `bixse --version`, `-h` beside `--help` on every command, and
help text printed as written (rich markup escaped)."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from bixse import __version__
from bixse.cli import app

runner = CliRunner()


def _commands(group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if hasattr(command, "commands"):  # a command group
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


COMMANDS = _commands(typer.main.get_command(app))


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"bixse {__version__}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "bixse")
def test_h_is_help_on_every_command(command):
    short = runner.invoke(app, [*command, "-h"], env={"COLUMNS": "200"})
    assert short.exit_code == 0, short.output
    assert "Usage:" in short.output
    assert short.output == runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}).output


def test_judge_help_keeps_its_bracketed_defaults():
    output = runner.invoke(app, ["judge", "--help"], env={"COLUMNS": "300"}).output
    assert "[default: $BIXSE_CACHE/labels.sqlite, else ~/.cache/bixse/labels.sqlite]" in output
    assert "[default cache: labels.shard<i>of<n>.sqlite]" in output
    assert "--candidates-run" in output


def test_new_commands_and_options_are_in_the_help():
    wide = {"COLUMNS": "300"}
    assert "export" in runner.invoke(app, ["labels", "--help"], env=wide).output
    train = runner.invoke(app, ["train", "--help"], env=wide).output
    for option in ("--gradient-accumulation-steps", "--gradient-checkpointing", "--report-to",
                   "--load-best-model-at-end", "--device", "--push-to-hub", ".parquet", "save_to_disk"):
        assert option in train, option
