"""README's "Connect two nodes", followed literally: the test reads the section's
code blocks and runs each `qalqan` line on the machine the comments name, so a README
that drifts from the code fails here.

Two homes stand for two machines, each in its own folder with QALQAN_HOME set; nothing
crosses between them but the files a `# carry FILE to X's machine` line names (only
invitations). The README's example hosts (qalqan.kz.example, qalqan.uz.example), its
`--host 0.0.0.0` and its port 8443 become 127.0.0.1 and a free port per machine;
`qalqan serve` also gets `--no-sync` so the test decides when a sync round runs
(`qalqan sync --once`, which the README names for that). `join` without `--yes` is
answered "y" on its standard input. Between the README's blocks the test records
incidents and checks what arrived: an amber one from KZ at UZ, a green one from UZ at
KZ; after `token revoke uz` UZ's next pull fails with a clear error; after the new
invitation it works again.
"""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import yaml
from conftest import incident_record
from nodes import REPO, serving
from sync_fixtures import free_port, stored_json

MACHINE = re.compile(r"^# on (\w+)'s machine$")
CARRY = re.compile(r"(\S+) to (\w+)'s machine")
EXAMPLE_HOST = re.compile(r"qalqan\.(\w+)\.example:8443")


def readme_blocks() -> list[list[str]]:
    """The ```sh blocks of the "Connect two nodes" section, as lists of lines."""
    text = (REPO / "README.md").read_text("utf-8")
    section = text.split("\n## Connect two nodes\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


class Machines:
    """The two machines: a folder each (the working directory) with the home inside."""

    def __init__(self, root: Path, names: list[str], stack: ExitStack):
        self.folders = {n: root / f"{n}-machine" for n in names}
        for folder in self.folders.values():
            folder.mkdir()
        self.ports = {n: free_port() for n in names}
        self.stack = stack
        self.carried: list[str] = []

    def home(self, name: str) -> Path:
        return self.folders[name] / "home"

    def qalqan(self, name: str, args: list[str], stdin: str = "") -> subprocess.CompletedProcess:
        env = dict(os.environ, QALQAN_HOME=str(self.home(name)), PYTHONPATH=str(REPO))
        return subprocess.run([sys.executable, "-m", "node", *args], cwd=self.folders[name], env=env, input=stdin, check=False,
                              capture_output=True, text=True, timeout=120)

    def follow(self, lines: list[str]) -> None:
        """Run a README block: `# on X's machine` switches machine, `# carry …` moves
        files, `qalqan …` runs there (serve in the background)."""
        here = None
        for line in lines:
            if MACHINE.match(line):
                here = MACHINE.match(line)[1].lower()
            elif line.startswith("# carry "):
                for file, to in CARRY.findall(line):
                    self.carry(file, to.lower())
            elif line.startswith("qalqan "):
                self.run_line(here, line)
            else:
                raise AssertionError(f"README line the test does not know: {line!r}")

    def carry(self, file: str, to: str) -> None:
        assert file.endswith(".invitation"), f"only invitations cross between machines, not {file}"
        [source] = [f / file for n, f in self.folders.items() if n != to and (f / file).exists()]
        shutil.copy(source, self.folders[to] / file)
        self.carried.append(file)

    def run_line(self, here: str, line: str) -> None:
        command = line.split("  #", 1)[0].strip()
        command = EXAMPLE_HOST.sub(lambda m: f"127.0.0.1:{self.ports[m[1]]}", command)
        args = shlex.split(command)[1:]
        if args[0] == "serve":
            args = [a.replace("0.0.0.0", "127.0.0.1").replace("8443", str(self.ports[here])) for a in args]
            home = self.home(here)
            keys = home / "keys"
            self.stack.enter_context(serving(home, *args[1:], tls_ca=str(keys / "tls-ca.pem"),
                                             client_cert=(str(keys / "tls-client.pem"), str(keys / "tls-client.key"))))
            return
        asks = args[0] == "join" and "--yes" not in args
        out = self.qalqan(here, args, stdin="y\n" if asks else "")
        assert out.returncode == 0, f"{here}$ {command}\n{out.stdout}{out.stderr}"
        if args[0] == "invite":
            assert re.search(r"fingerprint( [0-9a-f]{4}){5} ", out.stdout), out.stdout
        if asks:
            assert "fingerprint" in out.stdout and "accept? [y/N]" in out.stdout, out.stdout

    def add_incident(self, name: str, tlp: str, title: str) -> str:
        record = self.folders[name] / f"{tlp}.yaml"
        record.write_text(yaml.safe_dump(incident_record(tlp=tlp, title=title), allow_unicode=True), "utf-8")
        out = self.qalqan(name, ["incident", "add", record.name])
        assert out.returncode == 0, out.stderr
        return out.stdout.split()[1]

    def sync(self, name: str) -> subprocess.CompletedProcess:
        return self.qalqan(name, ["sync", "--once"])


def test_connect_two_nodes_as_the_readme_says(tmp_path):
    connect, cut_off, restore = readme_blocks()
    with ExitStack() as stack:
        machines = Machines(tmp_path, ["kz", "uz"], stack)
        machines.follow(connect)
        assert machines.carried == ["uz.invitation", "kz.invitation"]
        kz, uz = machines.home("kz"), machines.home("uz")
        for home in (kz, uz):  # mutual TLS from `tls init --mutual`, the partner's CA from the invitation
            config = yaml.safe_load((home / "config.yaml").read_text())
            assert config["server"]["tls_client_ca"] and config["node"]["url"].startswith("https://127.0.0.1:")

        amber = machines.add_incident("kz", "amber", "Amber from Astana")
        green = machines.add_incident("uz", "green", "Green from Tashkent")
        for name in ("uz", "kz"):
            out = machines.sync(name)
            assert out.returncode == 0, out.stdout + out.stderr
        assert stored_json(uz, amber) == stored_json(kz, amber) is not None
        assert stored_json(kz, green) == stored_json(uz, green) is not None

        machines.follow(cut_off)
        out = machines.sync("uz")
        assert out.returncode != 0
        assert "qalqan: peer kz failed: HTTP 401 from https://127.0.0.1:" in out.stderr, out.stderr
        assert "the partner does not accept this node's token: revoked or wrong" in out.stderr

        machines.follow(restore)
        later = machines.add_incident("kz", "amber", "Amber after the new invitation")
        out = machines.sync("uz")
        assert out.returncode == 0, out.stdout + out.stderr
        assert stored_json(uz, later) == stored_json(kz, later) is not None
