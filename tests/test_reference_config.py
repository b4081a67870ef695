"""The repository root's config.yaml and feeds/ document every setting and the default
feeds; these tests keep them true to node/config.py, so they cannot rot."""
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from node import config as config_mod
from node.home import Node

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "config.yaml"


def flat_sample() -> dict:
    return config_mod._flatten(yaml.safe_load(SAMPLE.read_text("utf-8")))


def test_the_reference_config_and_feeds_load_and_validate_as_they_stand():
    config = config_mod.load(REPO)
    assert set(config.feeds) == {"bilateral", "regional", "public"}
    assert config.peers == {}


def test_the_reference_config_lists_every_setting_with_its_default_and_its_meaning():
    flat = flat_sample()
    text = SAMPLE.read_text("utf-8")
    for key, _check, default, help_ in config_mod.SETTINGS:
        assert key in flat, f"config.yaml lacks {key}"
        if default is not config_mod.REQUIRED:
            assert flat[key] == default, f"config.yaml gives {key} as {flat[key]!r}, the code's default is {default!r}"
        assert f"# {help_}" in text, f"config.yaml does not explain {key} with its help text"
    assert set(flat) <= {key for key, *_ in config_mod.SETTINGS} | {"peers"}


def test_the_commented_peers_example_is_a_valid_peer_entry(tmp_path):
    lines = SAMPLE.read_text("utf-8").splitlines()
    start = lines.index("# peers:")
    block = [line[2:] for line in lines[start:] if line.startswith("# ")]  # its own comments stay comments
    example = yaml.safe_load("\n".join(block))
    home = tmp_path / "home"
    (home / "feeds").mkdir(parents=True)
    data = yaml.safe_load(SAMPLE.read_text("utf-8"))
    data.update(example)
    (home / "config.yaml").write_text(yaml.safe_dump(data), "utf-8")
    peer = config_mod.load(home).peers["uz"]
    assert len(peer.pull) == 2 and peer.push == peer.pull[:1] and peer.token_env and peer.signed is True


def test_the_reference_config_works_in_a_home_made_by_init(make_home):
    home = make_home("kz", "KZ")
    made = yaml.safe_load((home / "config.yaml").read_text("utf-8"))
    sample = yaml.safe_load(SAMPLE.read_text("utf-8"))
    sample["node"] = made["node"]
    (home / "config.yaml").write_text(yaml.safe_dump(sample), "utf-8")
    node = Node(home)
    assert node.config["server.threads"] == 8 and node.disarm.source == "built-in"
    assert node.status()["identity"] == made["node"]["identity"]


def without_ids(feeds: dict) -> dict:
    return {name: {k: v for k, v in vars(feed).items() if k != "id"} for name, feed in feeds.items()}


def test_the_default_feeds_are_the_ones_init_writes_ids_aside(make_home):
    home = make_home("kz", "KZ")
    assert without_ids(config_mod.load_feeds(REPO / "feeds")) == without_ids(config_mod.load_feeds(home / "feeds"))
    for path in (REPO / "feeds").glob("*.yaml"):
        assert path.read_text("utf-8").startswith("#"), f"{path.name} is not commented"


def test_qalqan_run_from_the_repository_root_refuses_the_sample_and_writes_nothing():
    before = sorted(p.name for p in REPO.iterdir())
    out = subprocess.run([sys.executable, "-m", "node", "status"], cwd=REPO, capture_output=True, text=True,
                         timeout=60, env={**os.environ, "QALQAN_HOME": ""})
    assert out.returncode == 2
    assert re.fullmatch(r"qalqan: \S*keys/node\.key: no node key, so \. is not a node's home .*\n", out.stderr)
    assert sorted(p.name for p in REPO.iterdir()) == before


def test_gitignore_keeps_every_kind_of_secret_out_but_not_the_keys_readme():
    secrets = ["keys/node.key", "keys/node.key.next", "keys/web.secret", "keys/object-ids.secret", "keys/tls.pem",
               "data/qalqan.db", "data/qalqan.db-wal", "home/keys/node.key", "home/keys/web.secret",
               "home/keys/object-ids.secret", "qalqan.db", "backup.qbk"]
    out = subprocess.run(["git", "check-ignore", "--no-index", *secrets], cwd=REPO, capture_output=True, text=True)
    assert sorted(out.stdout.split()) == sorted(secrets)
    kept = subprocess.run(["git", "check-ignore", "--no-index", "keys/README.md", "node/data/disarm-reference.json",
                           "feeds/public.yaml", "config.yaml"], cwd=REPO, capture_output=True, text=True)
    assert kept.returncode == 1 and kept.stdout == ""
