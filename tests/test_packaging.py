"""The package as a user gets it: a wheel built with no warnings, installed into a fresh
venv, whose `qalqan` command makes a home and serves its templates, static files, JSON Schemas
and compiled message catalogues (made by scripts/setup.sh before the build) from the
installed package (not from this checkout).

Offline, as every test here: the wheel is built with this environment's setuptools
(no build isolation) and installed without its dependencies, which the fresh venv then
finds on a path line pointing at this environment's site-packages."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import node

REPO = Path(__file__).resolve().parent.parent

CHECK_INSTALLED = """
import sys, node
from pathlib import Path
from node.app import create_app
from node.wellknown import EXTENSION_SCHEMAS, schema
assert Path(node.__file__).is_relative_to(sys.prefix), node.__file__
for name in EXTENSION_SCHEMAS.values():
    assert schema(name)["$schema"], name
from node.disarm import Disarm
assert len(Disarm.builtin().techniques) > 300 and Disarm.builtin().name("T0023")
from node.misp import tags as misp_tags
assert misp_tags.taxonomy()["namespace"] == "qalqan" and misp_tags.galaxy_tag("T0023")
client = create_app(sys.argv[1]).test_client()
for path in ("/login", "/assets/qalqan.css", "/assets/vendor/chartjs/chart.umd.min.js"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
from node.i18n import LOCALES
catalogues = Path(node.__file__).parent / "translations"
assert all((catalogues / l / "LC_MESSAGES" / "messages.mo").is_file() for l in LOCALES), list(catalogues.rglob("*"))
page = client.get("/login?lang=uz").get_data(as_text=True)
assert '<html lang="uz-Latn">' in page, page
print("installed package complete")
"""


def _clean_env() -> dict:
    """No PYTHONPATH (the installed package, not this checkout, must answer); bytecode on, as
    for a user (with it off, setuptools warns that it skips byte-compiling)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "QALQAN_HOME")}


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=_clean_env(), **kw)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    shutil.copytree(REPO / "node", src / "node", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = src / "dist"
    # -v shows the build backend's own output, where setuptools prints its warnings.
    build = _run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation", "--no-index",
                  "-w", dist, src], cwd=src)
    warnings = [line for line in (build.stdout + build.stderr).splitlines() if re.search(r"warn", line, re.I)]
    assert warnings == []
    (built,) = dist.glob("qalqan-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", "--without-pip", venv])
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "-q", "--no-deps",
          "--no-index", wheel])
    site = Path(_run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
                .stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def test_the_wheel_is_named_for_the_package_version(wheel):
    assert wheel.name.startswith(f"qalqan-{node.__version__}-")


def test_the_installed_command_reports_its_version(venv):
    result = _run([venv / "bin" / "qalqan", "--version"])
    assert result.stdout.strip() == f"qalqan {node.__version__}"


def test_the_installed_package_makes_a_home_and_finds_its_data(venv, tmp_path):
    home = tmp_path / "kz"
    qalqan = venv / "bin" / "qalqan"
    out = _run([qalqan, "init", "--name", "kz", "--country", "KZ", "--home", home], cwd=tmp_path).stdout
    assert out.startswith("identity identity--")
    assert (home / "keys" / "node.key").stat().st_mode & 0o777 == 0o600
    assert "node kz (KZ)" in _run([qalqan, "--home", home, "status"], cwd=tmp_path).stdout
    check = _run([venv / "bin" / "python", "-c", CHECK_INSTALLED, home], cwd=tmp_path)
    assert check.stdout.strip() == "installed package complete"
