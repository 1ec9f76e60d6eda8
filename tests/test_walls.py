"""The walls of the architecture, checked on the source: services never import each other, the shared package
imports no service, and the ComfyUI-compatible test server shares only the protocol models."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = {
    "orch_common": REPO / "common" / "orch_common",
    "orch_scheduler": REPO / "services" / "scheduler" / "orch_scheduler",
    "orch_agent": REPO / "services" / "backend-agent" / "orch_agent",
    "orch_api": REPO / "services" / "api" / "orch_api",
    "orch_sim": REPO / "sim" / "orch_sim",
}
OURS = {*PACKAGES, "orch_cli"}
SIM_MAY_USE = {"orch_common.comfy.wire", "orch_common.comfy.binary", "orch_common.comfy.model_folders"}


def _imports(package_dir: Path) -> set[tuple[str, str]]:
    """(file, imported module) for every import of one of our packages, at any depth in the file."""
    found: set[tuple[str, str]] = set()
    for path in package_dir.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in OURS:
                    found.add((str(path.relative_to(REPO)), name))
    return found


@pytest.mark.parametrize("package", ["orch_scheduler", "orch_agent", "orch_api"])
def test_a_service_imports_only_itself_and_the_shared_package(package: str) -> None:
    foreign = {(f, m) for f, m in _imports(PACKAGES[package]) if m.split(".")[0] not in (package, "orch_common")}
    assert not foreign, foreign


def test_the_shared_package_imports_no_service() -> None:
    foreign = {(f, m) for f, m in _imports(PACKAGES["orch_common"]) if m.split(".")[0] != "orch_common"}
    assert not foreign, foreign


def test_the_simulator_shares_only_the_protocol_models() -> None:
    foreign = {
        (f, m)
        for f, m in _imports(PACKAGES["orch_sim"])
        if m.split(".")[0] != "orch_sim" and m not in SIM_MAY_USE
    }
    assert not foreign, foreign
