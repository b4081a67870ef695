"""deploy/qalqan.service: a unit systemd accepts, that runs `qalqan serve` on the home it
may write, with the hardening the README promises."""
from __future__ import annotations

import configparser
import shlex
import shutil
import subprocess
from pathlib import Path

from node.cli import build_parser

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "qalqan.service"


def _service() -> configparser.SectionProxy:
    # strict=False: systemd allows a key more than once (SystemCallFilter); the last wins here.
    parser = configparser.ConfigParser(strict=False, interpolation=None, empty_lines_in_values=False)
    parser.optionxform = str
    parser.read_string(UNIT.read_text("utf-8"))
    return parser["Service"]


def test_the_unit_runs_qalqan_serve_on_the_home_it_may_write():
    service = _service()
    argv = shlex.split(service["ExecStart"])
    assert Path(argv[0]).name == "qalqan"
    args = build_parser().parse_args(argv[1:])
    assert args.command == "serve"
    assert args.home == service["ReadWritePaths"] == "/var/lib/qalqan"
    assert service["StateDirectory"] == "qalqan"
    assert service["Restart"] == "on-failure"


def test_the_unit_is_hardened():
    service = _service()
    assert service["User"] not in ("", "root")
    expected = {"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "NoNewPrivileges": "yes",
                "UMask": "0077", "CapabilityBoundingSet": "", "AmbientCapabilities": ""}
    assert {key: service[key] for key in expected} == expected
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}


def test_systemd_accepts_the_unit(tmp_path):
    """systemd-analyze (.ci/run installs systemd) reports unknown keys and bad values."""
    text = UNIT.read_text("utf-8")
    assert "/opt/qalqan/venv/bin/qalqan" in text
    assert shutil.which("systemd-analyze"), "systemd-analyze is missing: install Debian's systemd package"
    # verify insists the command exists: point it at a real executable.
    unit = tmp_path / "qalqan.service"
    unit.write_text(text.replace("/opt/qalqan/venv/bin/qalqan", shutil.which("true")), "utf-8")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
