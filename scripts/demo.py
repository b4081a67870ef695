"""Three Qalqan nodes on loopback (Astana, Tashkent, Baku) exchanging signed incidents.

KZ and UZ are bilateral partners and OTS members; UZ and AZ share the regional feed;
AZ pins KZ's card without being its peer. A green incident recorded at KZ reaches UZ
by push and AZ by UZ's relay, still signed by KZ; an amber one reaches UZ only; a red
one never leaves KZ. Everything runs on 127.0.0.1 and stops at the end.
"""
from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
NODES = {"kz": "KZ", "uz": "UZ", "az": "AZ"}


def qalqan(home: Path, *args, input: str | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "node", "--home", str(home), *map(str, args)],
                         capture_output=True, text=True, input=input)
    if out.returncode != 0:
        raise SystemExit(f"qalqan {' '.join(map(str, args))} failed: {out.stderr.strip()}")
    return out.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def feed_id(home: Path, name: str) -> str:
    return yaml.safe_load((home / "feeds" / f"{name}.yaml").read_text())["id"]


def set_feed(home: Path, name: str, readers: list[str], writers: list[str]) -> None:
    path = home / "feeds" / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(readers=readers, writers=writers)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def set_sync_interval(home: Path, seconds: float) -> None:
    path = home / "config.yaml"
    data = yaml.safe_load(path.read_text())
    data["sync"]["interval"] = seconds
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def link(home: Path, peer: str, peer_home: Path, port: int, token: str, pull: list[str], push: list[str]):
    card = peer_home / "card.json"
    card.write_text(qalqan(peer_home, "card"))
    args = ["peer", "add", peer, "--card", card, "--url", f"http://127.0.0.1:{port}/taxii2/", "--token", token]
    for feed in pull:
        args += ["--pull", feed_id(peer_home, feed)]
    for feed in push:
        args += ["--push", feed_id(peer_home, feed)]
    qalqan(home, *args)


def record(title: str, tlp: str) -> str:
    return yaml.safe_dump({
        "title": title, "summary": "A doctored video claims the border closes tomorrow.",
        "claim": "The Kazakhstan–Uzbekistan border closes tomorrow.", "language": "ru",
        "first_seen": "2026-11-26T08:00:00Z", "platforms": ["telegram"], "target_countries": ["KZ", "UZ"],
        "urls": ["https://t.me/example_channel/4242"], "accounts": [{"platform": "telegram", "login": "@example"}],
        "verdict": "manipulated", "confidence": 80, "tlp": tlp}, allow_unicode=True)


def holds(home: Path, incident_id: str) -> bool:
    bundle = json.loads(qalqan(home, "export", "--all"))
    return any(o["id"] == incident_id for o in bundle["objects"])


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="qalqan-demo-"))
    homes = {name: base / name for name in NODES}
    ports = {name: free_port() for name in NODES}
    print(f"homes in {base}")
    for name, country in NODES.items():
        qalqan(homes[name], "init", "--name", name, "--country", country, "--url", f"http://127.0.0.1:{ports[name]}")
        set_sync_interval(homes[name], 2)
    kz, uz, az = homes["kz"], homes["uz"], homes["az"]
    set_feed(kz, "bilateral", readers=["uz"], writers=["uz"])
    set_feed(kz, "regional", readers=["uz"], writers=["uz"])
    set_feed(uz, "bilateral", readers=["kz"], writers=["kz"])
    set_feed(uz, "regional", readers=["kz", "az"], writers=["kz", "az"])
    set_feed(az, "regional", readers=["uz"], writers=["uz"])

    def token(at: Path, who: str) -> str:
        return qalqan(at, "token", "create", who).split()[-1]

    link(kz, "uz", uz, ports["uz"], token(uz, "kz"), pull=["bilateral", "regional"], push=["bilateral", "regional"])
    link(uz, "kz", kz, ports["kz"], token(kz, "uz"), pull=["bilateral", "regional"], push=[])
    link(uz, "az", az, ports["az"], token(az, "uz"), pull=["regional"], push=[])
    link(az, "uz", uz, ports["uz"], token(uz, "az"), pull=["regional"], push=[])
    (base / "kz.card").write_text(qalqan(kz, "card"))
    qalqan(az, "trust", "add", "--card", base / "kz.card")
    print("KZ↔UZ bilateral and regional, UZ↔AZ regional; AZ pins KZ's card")

    servers = [subprocess.Popen([sys.executable, "-m", "node", "--home", str(homes[n]), "serve"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for n in NODES]
    try:
        time.sleep(2)
        ids = {}
        for title, tlp in (("Doctored border video", "green"), ("Bilateral lead", "amber"), ("Internal note", "red")):
            path = base / f"{tlp}.yaml"
            path.write_text(record(title, tlp))
            ids[tlp] = qalqan(kz, "incident", "add", path).split()[1]
            print(f"KZ recorded {'an' if tlp == 'amber' else 'a'} {tlp} incident {ids[tlp]}")
        started = time.time()
        expected = {("uz", "green"): True, ("az", "green"): True, ("uz", "amber"): True,
                    ("az", "amber"): False, ("uz", "red"): False, ("az", "red"): False}
        while time.time() - started < 60:
            seen = {(n, t): holds(homes[n], ids[t]) for n, t in expected}
            if all(seen[k] for k, v in expected.items() if v):
                break
            time.sleep(1)
        print(f"after {time.time() - started:.1f} s:")
        for (node, tlp), want in expected.items():
            got = holds(homes[node], ids[tlp])
            print(f"  {node.upper()} holds the {tlp} incident: {'yes' if got else 'no'}"
                  f" ({'as policy says' if got == want else 'NOT as policy says'})")
        relayed = base / "az-export.json"
        relayed.write_text(qalqan(az, "export", "--all"))
        print("AZ checks every signature it holds, KZ's included:", qalqan(az, "verify", relayed).strip())
        ok = all(holds(homes[n], ids[t]) == v for (n, t), v in expected.items())
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
        for server in servers:
            server.wait(timeout=20)
    print("demo " + ("succeeded" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
