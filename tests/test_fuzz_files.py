"""Property-based fuzzing of what the node reads from files: incident records (as
`incident add FILE` and the web form hand them to the library) and bundles (`import`,
`import --from PEER`, `verify`). Whatever they hold, the answer is a result or one
QalqanError sentence, never another exception (which the CLI would print as a
traceback), and nothing the sharing policy forbids enters a feed."""
from __future__ import annotations

import io
import json

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from conftest import incident_record
from fuzz_fixtures import FUZZ, feed_policy_violations
from node.errors import QalqanError
from node.home import Node
from node.incident import FIELDS
from node.records import read_record_file
from nodes import make_home

text = st.text(max_size=40)
scalars = st.none() | st.booleans() | st.integers(-2 ** 60, 2 ** 60) | st.floats(allow_nan=False) | text | \
    st.sampled_from(["red", "amber+strict", "green", "T0023", "KZ", "2026-11-20", "9999-12-31T23:59:59Z",
                     "https://x.example/", "telegram @a", "public", "bilateral"])
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(text, kids, max_size=3),
                           max_leaves=10)


@pytest.fixture(scope="module")
def homes(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz-files")
    kz, uz = Node(make_home(base, "kz", "KZ")), Node(make_home(base, "uz", "UZ"))
    kz.add_peer("uz", uz.card(), "http://127.0.0.1:9/taxii2/")
    uz.add_incident(incident_record(tlp="green"))
    out = io.StringIO()
    uz.export(out)
    return base, kz, json.loads(out.getvalue())["objects"]


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4))
def test_any_incident_record_is_added_or_refused_with_one_sentence(homes, changes):
    _, kz, _ = homes
    try:
        kz.add_incident(incident_record(**changes))
    except QalqanError:
        pass
    assert not feed_policy_violations(kz.home)


@FUZZ
@given(document=json_values, as_yaml=st.booleans())
def test_any_record_file_is_read_or_refused_with_one_sentence(homes, document, as_yaml):
    base, kz, _ = homes
    path = base / ("record.yaml" if as_yaml else "record.json")
    path.write_text(yaml.safe_dump(document) if as_yaml else json.dumps(document), "utf-8")
    try:
        kz.add_incident(read_record_file(path))
    except QalqanError:
        pass


@st.composite
def bundles(draw, objects: list[dict]) -> bytes:
    chosen = [dict(o) for o in draw(st.lists(st.sampled_from(objects), max_size=4))]
    for obj in chosen:
        for key in draw(st.lists(st.sampled_from(sorted(obj)), max_size=2)):
            obj[key] = draw(json_values)
    extra = draw(st.lists(json_values, max_size=2))
    document = draw(st.sampled_from([{"type": "bundle", "id": "bundle--1", "objects": chosen + extra},
                                     {"objects": chosen + extra}, chosen, {"objects": extra}]))
    data = json.dumps(document).encode()
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + draw(st.binary(max_size=8)) + data[cut:]
    return data


@FUZZ
@given(data=st.data(), source=st.sampled_from([None, "uz"]))
def test_any_bundle_is_imported_or_verified_or_refused_with_one_sentence(homes, data, source):
    base, kz, objects = homes
    raw = data.draw(bundles(objects))
    try:
        kz.import_stream(io.BytesIO(raw), source=source)
    except QalqanError:
        pass
    try:
        kz.verify_stream(lambda: io.BytesIO(raw))
    except QalqanError:
        pass
    assert not feed_policy_violations(kz.home)


FEED_KEYS = ("id", "title", "description", "max_tlp", "readers", "writers")


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(FEED_KEYS) | text, json_values, max_size=3),
       setting=st.sampled_from(["node.name", "node.country", "server.port", "server.max_content_length",
                                "default_tlp", "peers", "peers.uz", "peers.uz.url", "peers.uz.feeds",
                                "database", "server.threads", "sync.interval"]),
       value=json_values)
def test_any_feed_file_or_setting_loads_or_is_refused_with_one_sentence(homes, changes, setting, value):
    """A feed file or config.yaml edited to anything: config.load gives a Config or one
    ConfigError naming the file and key, and the node opens or refuses the same way."""
    from node import config as config_mod
    from nodes import edit_config
    base, kz, _ = homes
    home = base / "kz"
    feed_path, config_path = home / "feeds" / "regional.yaml", home / "config.yaml"
    saved = feed_path.read_bytes(), config_path.read_bytes()
    try:
        feed = yaml.safe_load(saved[0])
        feed.update(changes)
        feed_path.write_text(yaml.safe_dump(feed), "utf-8")
        config_mod.load(home)
    except QalqanError:
        pass
    finally:
        feed_path.write_bytes(saved[0])
    try:
        edit_config(home, setting, value)
        config_mod.load(home)
    except QalqanError:
        pass
    finally:
        config_path.write_bytes(saved[1])
