"""The ./shutter bootstrap refuses a lock file that no longer matches pyproject.toml."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_lock_out_of_date_with_pyproject_stops_the_bootstrap_with_one_line(
    tmp_path: Path,
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    if (ROOT / ".tools").exists():
        # The same pinned uv; reusing it spares the test a download.
        (clone / ".tools").symlink_to(ROOT / ".tools")
    pyproject = clone / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(text.replace('"psutil>=7.1,<8",', '"psutil>=7.1,<8",\n  "tomli-w>=1,<2",'))
    assert "tomli-w" in pyproject.read_text(), "the edit must change the dependencies"
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}

    result = subprocess.run(
        [str(clone / "shutter"), "--help"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=110,
    )

    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "shutter: uv.lock does not match pyproject.toml; run ./shutter lock to re-lock"
    )
    assert not (clone / ".venv").exists()


def test_every_service_of_the_mesh_is_a_package_the_install_ships() -> None:
    """`shutter up` runs from the installed entry point, where only the packages pyproject.toml
    lists are importable: a service left out fails only there (not in the suite, which runs from
    the repository's root)."""
    import fnmatch
    import tomllib

    from mesh.services import MESH

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    first_party = config["tool"]["ruff"]["lint"]["isort"]["known-first-party"]
    for name in [spec.name for spec in MESH] + ["edge_proxy", "mesh", "bench"]:
        assert any(fnmatch.fnmatch(name, pattern) for pattern in include), name
        assert name in first_party, name
