"""`bixse collection info/export` through the real command line."""

from typer.testing import CliRunner

from bixse.cli import app
from bixse.collections import load

runner = CliRunner()


def test_info_prints_counts_histogram_and_splits():
    result = runner.invoke(app, ["collection", "info", "cranfield"])
    assert result.exit_code == 0, result.output
    out = result.output
    for expected in ("1,398", "225", "1,836", "grade 4", "128", "split train", "125 queries", "split test", "75 queries"):
        assert expected in out


def test_export_then_info_on_the_folder(tmp_path):
    result = runner.invoke(app, ["collection", "export", "cranfield", str(tmp_path / "c"), "--format", "trec"])
    assert result.exit_code == 0, result.output
    assert len(load(tmp_path / "c").corpus) == 1398
    info = runner.invoke(app, ["collection", "info", str(tmp_path / "c")])
    assert info.exit_code == 0 and "1,836" in info.output


def test_bad_collection_is_a_one_line_error(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "bixse", "collection", "info", str(tmp_path / "missing")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "no such collection" in proc.stderr
    assert "Traceback" not in proc.stderr
