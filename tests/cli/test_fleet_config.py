"""Which ComfyUI servers `orch up` drives, and the errors for bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from orch_cli.fleet_config import BackendConfig, ConfigError, load_backends


def test_no_configuration_means_a_simulated_fleet() -> None:
    assert load_backends([], None, None) == []


def test_urls_from_flags_env_and_file_are_merged(tmp_path: Path) -> None:
    config = tmp_path / "orch.toml"
    config.write_text('[[backends]]\nid = "gpu-a"\nurl = "http://10.0.0.5:8188/"\n')
    found = load_backends(["http://h1:8188"], "http://h2:8189, ", config)
    assert found == [
        BackendConfig("h1-8188", "http://h1:8188"),
        BackendConfig("h2-8189", "http://h2:8189"),
        BackendConfig("gpu-a", "http://10.0.0.5:8188"),
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[[backends]]\nid = "x"\n', "needs a url"),
        ('[[backends]]\nurl = "ftp://x"\n', r"is not an http\(s\) URL"),
        ('[[backends]]\nid = "a b"\nurl = "http://x:1"\n', "may use only letters"),
        ("[[backends]\n", "orch.toml"),
    ],
)
def test_a_bad_config_file_is_an_error_naming_the_entry(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "orch.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError, match=message):
        load_backends([], None, config)


def test_duplicate_backend_ids_are_refused() -> None:
    with pytest.raises(ConfigError, match="repeated: h-1"):
        load_backends(["http://h:1", "http://h:1"], None, None)


def test_orch_up_help_shows_the_config_files_table_name() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "orch_cli", "up", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stderr
    assert "[[backends]]" in result.stdout  # rich markup would eat an unescaped "[[backends]]"
