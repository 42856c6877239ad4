"""`atlas attribute` end to end on a tiny model: JSON and graph outputs, one-line errors."""

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from atlas.cli.main import cli
from atlas.models import load_model
from atlas.transcoders import save_transcoders
from tests.fixtures.tiny_models import tiny_model_dir, tiny_transcoders


def _run(*args):
    return subprocess.run([sys.executable, "-m", "atlas.cli.main", "attribute", *args],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tiny_model_dir("gpt2")
    tc = save_transcoders(tiny_transcoders(load_model(folder)),
                          tmp_path_factory.mktemp("tc") / "tc")
    return str(folder), str(tc)


def _invoke(*args):
    return CliRunner().invoke(cli, ["attribute", *args], catch_exceptions=False)


def test_json_and_graph_outputs(inputs, tmp_path):
    model, tc = inputs
    result = _invoke("--model", model, "--transcoders", tc, "--prompt", "The cat",
                     "--out", str(tmp_path / "g.json"), "--batch-size", "16")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "g.json").read_text())
    assert {"metadata", "qParams", "nodes", "links"} == set(data)
    result = _invoke("--model", model, "--transcoders", tc, "--prompt", "The cat",
                     "--out", str(tmp_path / "g.safetensors"), "--max-feature-nodes", "5")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.safetensors").is_file()


def test_bad_input_is_one_line_exit_1(inputs, tmp_path):
    model, tc = inputs
    result = _run("--model", str(tmp_path / "missing"), "--transcoders", tc, "--prompt", "x",
                  "--out", str(tmp_path / "g.json"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "does not exist" in result.stderr
    result = _run("--model", model, "--transcoders", tc, "--prompt", "x",
                  "--out", str(tmp_path / "g.json"), "--dtype", "fp8")
    assert result.returncode == 1 and "unknown dtype" in result.stderr
