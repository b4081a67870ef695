"""Every YAML file the node reads (config.yaml, feeds/*.yaml, incident records) refuses
duplicate keys and anchors/aliases, with one error naming the file and the key or line."""
import re

import pytest

from node import config
from node.errors import ConfigError, InputError
from node.records import read_record_file

FEED = """id: 2b7e9f5c-4d1a-4e8b-9c3f-6a5d8e7f1b20
title: Public
max_tlp: clear
readers: [public]
writers: []
"""

ALIAS_BOMB = "\n".join(["a: &a [x, x, x, x, x, x, x, x, x, x]"] +
                       [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(8)])


def test_a_feed_file_with_a_second_readers_key_is_a_config_error_naming_file_and_key(tmp_path):
    path = tmp_path / "public.yaml"
    path.write_text(FEED + "readers: [uz]\n")
    with pytest.raises(ConfigError) as raised:
        config.load_feed(path)
    assert str(path) in raised.value.message and "'readers' appears twice" in raised.value.message


def test_a_duplicate_key_in_config_yaml_stops_the_node_from_opening(make_home):
    home = make_home("kz", "KZ")
    path = home / "config.yaml"
    path.write_text(path.read_text() + "default_tlp: green\n")
    with pytest.raises(ConfigError, match=re.escape(str(path)) + ".*'default_tlp' appears twice"):
        config.load(home)


def test_a_duplicate_key_nested_in_config_yaml_is_refused_too(make_home):
    home = make_home("kz", "KZ")
    path = home / "config.yaml"
    path.write_text(path.read_text().replace("  interval: 30\n", "  interval: 30\n  interval: 5\n"))
    with pytest.raises(ConfigError, match="'interval' appears twice"):
        config.load(home)


def test_an_alias_bomb_in_a_feed_file_is_refused_with_one_clear_error(tmp_path):
    path = tmp_path / "public.yaml"
    path.write_text(FEED + ALIAS_BOMB + "\n")
    with pytest.raises(ConfigError) as raised:
        config.load_feed(path)
    assert raised.value.message == f"{path}: line 6: YAML anchors and aliases (& and *) are not allowed"


def test_an_alias_in_config_yaml_is_refused(make_home):
    home = make_home("kz", "KZ")
    path = home / "config.yaml"
    path.write_text(path.read_text().replace("default_tlp: amber", "default_tlp: &level amber\nx: *level"))
    with pytest.raises(ConfigError, match="anchors and aliases"):
        config.load(home)


def test_incident_record_files_refuse_aliases_and_duplicates(tmp_path):
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text("title: &t a title\nsummary: *t\n")
    with pytest.raises(InputError, match=re.escape(str(aliased)) + ": line 1: YAML anchors"):
        read_record_file(aliased)
    twice = tmp_path / "twice.yaml"
    twice.write_text("title: a\nsummary: s\ntitle: b\n")
    with pytest.raises(InputError, match=re.escape(str(twice)) + ": title: the field appears twice"):
        read_record_file(twice)


def test_files_the_node_writes_have_no_aliases_even_for_a_repeated_list(tmp_path):
    shared = ["uz"]
    path = tmp_path / "regional.yaml"
    config.write_yaml(path, {**config.default_feeds()["regional"], "readers": shared, "writers": shared})
    feed = config.load_feed(path)
    assert feed.readers == ["uz"] and feed.writers == ["uz"]


@pytest.mark.parametrize("file", ["config.yaml", "feeds/bilateral.yaml"])
def test_a_settings_file_beyond_the_size_bound_is_one_sentence_naming_it(make_home, qalqan, file):
    home = make_home("kz", "KZ")
    path = home / file
    # Valid YAML all through (a long comment), so only the size can be what is refused.
    path.write_text(path.read_text() + "# " + "x" * config.MAX_YAML_BYTES + "\n")
    with pytest.raises(ConfigError, match=re.escape(f"{path}: larger than 256 KiB, too large for a settings file")):
        config.load(home)
    out = qalqan("status", home=home)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and f"{path}: larger than 256 KiB" in out.stderr


def test_a_settings_file_within_the_bound_still_loads(make_home):
    home = make_home("kz", "KZ")
    path = home / "config.yaml"
    path.write_text(path.read_text() + "# " + "x" * (config.MAX_YAML_BYTES - len(path.read_bytes()) - 4) + "\n")
    assert len(path.read_bytes()) <= config.MAX_YAML_BYTES and config.load(home).name == "kz"
