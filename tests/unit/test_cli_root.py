import subprocess
import sys

from click.testing import CliRunner

from atlas.cli.main import SUBCOMMANDS, cli


def test_help_lists_every_command_without_importing_torch() -> None:
    code = ("import sys; from click.testing import CliRunner; from atlas.cli.main import cli; "
            "r = CliRunner().invoke(cli, ['--help']); print(r.output); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip().endswith("NO-TORCH")
    for name in SUBCOMMANDS:
        assert name in out


def test_error_is_one_line_with_exit_1(tmp_path) -> None:
    (tmp_path / "config.toml").write_text("not toml ===\n")
    done = subprocess.run([sys.executable, "-m", "atlas.cli.main", "--home", str(tmp_path),
                           "config", "show"], capture_output=True, text=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot read config file")
    assert "Traceback" not in done.stderr


def test_config_show_masks_password(tmp_path) -> None:
    result = CliRunner().invoke(cli, ["--home", str(tmp_path), "config", "show"],
                                env={"NEO4J_PASSWORD": "hunter2"})
    assert result.exit_code == 0
    assert "hunter2" not in result.output and "***" in result.output
