"""DISARM out of the box: the built-in reference, a full bundle in config that wins,
start-up errors for a bad `disarm:` file, and `qalqan disarm update` from a file or URL."""
import functools
import http.server
import json
import re
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from node.disarm import Disarm, NotADisarmBundle, compact_reference, parse_bundle
from node.errors import ConfigError, InputError
from node.home import Node

from conftest import incident_record, set_config

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "node" / "data" / "disarm-reference.json"


def tiny_bundle(path: Path, rename: dict | None = None, techniques=("T0002", "T0023", "T0086.002"),
                with_tactics: bool = True) -> Path:
    """A DISARM-shaped STIX bundle made from the built-in reference (ids, names,
    tactics; no descriptions), with technique names changed as `rename` says."""
    ref = json.loads(REFERENCE.read_text("utf-8"))
    by_id = {t["id"]: t for t in ref["techniques"]}
    when = "2030-01-01T00:00:00.000Z"
    objects = []
    if with_tactics:
        objects += [{"type": "x-mitre-tactic", "spec_version": "2.1", "id": t["stix_id"], "created": when,
                     "modified": when, "name": t["name"], "x_mitre_shortname": t["shortname"],
                     "external_references": [{"source_name": "DISARM", "external_id": t["id"]}]}
                    for t in ref["tactics"]]
    for tid in techniques:
        t = by_id[tid]
        objects.append({"type": "attack-pattern", "spec_version": "2.1", "id": t["stix_id"], "created": when,
                        "modified": when, "name": (rename or {}).get(tid, t["name"]),
                        "kill_chain_phases": [{"kill_chain_name": "mitre-attack", "phase_name": p}
                                              for p in t["tactics"]],
                        "external_references": [{"source_name": "mitre-attack", "external_id": tid}]})
    path.write_text(json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}), "utf-8")
    return path


def test_the_built_in_reference_names_techniques_their_tactics_and_the_release_stix_ids():
    disarm = Disarm.builtin()
    assert disarm.source == "built-in" and len(disarm.techniques) > 300 and len(disarm.tactics) > 10
    t0023 = disarm.techniques["T0023"]
    assert (t0023.name, t0023.tactics) == ("Distort Facts", ("Develop Content",))
    assert t0023.stix_id == "attack-pattern--45dae307-ba74-4038-90ef-2282a32e38b9"
    assert disarm.techniques["T0086.002"].name == "Develop AI-Generated Images (Deepfakes)"
    assert [t.id for t in disarm.tactics][:2] == ["TA01", "TA02"]


def test_the_reference_carries_attribution_and_licence_and_no_descriptions():
    text = REFERENCE.read_text("utf-8")
    ref = json.loads(text)
    assert ref["attribution"].startswith("DISARM Framework by the DISARM Foundation")
    assert ref["licence"] == "CC BY-SA 4.0" and "creativecommons.org" in ref["licence_url"]
    assert ref["release"]["marking"] == ["CC-BY-SA-4.0 DISARM Foundation"]
    assert "description" not in text and len(text) < 150_000
    for technique in ref["techniques"]:
        assert set(technique) == {"id", "name", "stix_id", "tactics"}


def test_the_build_script_derives_the_same_tactics_and_techniques_from_a_bundle(tmp_path):
    ref = json.loads(REFERENCE.read_text("utf-8"))
    bundle = tiny_bundle(tmp_path / "DISARM.json", techniques=[t["id"] for t in ref["techniques"]])
    out = tmp_path / "reference.json"
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "build_disarm_reference.py"), str(bundle),
                          "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    built = json.loads(out.read_text("utf-8"))
    assert built["tactics"] == ref["tactics"] and built["techniques"] == ref["techniques"]
    assert built["licence"] == "CC BY-SA 4.0"


def test_the_build_script_refuses_a_bundle_without_disarm_techniques(tmp_path):
    bundle = tiny_bundle(tmp_path / "empty.json", techniques=())
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "build_disarm_reference.py"), str(bundle),
                          "-o", str(tmp_path / "out.json")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "holds no DISARM techniques" in run.stderr
    assert not (tmp_path / "out.json").exists()


def test_a_full_bundle_named_in_config_wins_over_the_built_in_reference(make_home, tmp_path):
    home = make_home("kz", "KZ")
    bundle = tiny_bundle(tmp_path / "newer.json", rename={"T0023": "Distort Facts (newer release)"})
    set_config(home, "disarm", str(bundle))
    node = Node(home)
    assert node.disarm.source == str(bundle)
    assert node.disarm.name("T0023") == "Distort Facts (newer release)"
    assert sorted(node.disarm.techniques) == ["T0002", "T0023", "T0086.002"]
    with pytest.raises(InputError, match="^disarm: T0049 is not a technique"):
        node.add_incident(incident_record(disarm=["T0049"]))


def test_a_running_node_follows_a_changed_disarm_setting(make_home, tmp_path):
    home = make_home("kz", "KZ")
    node = Node(home)
    node.reload_config_if_changed(min_interval=0)
    set_config(home, "disarm", str(tiny_bundle(tmp_path / "newer.json", rename={"T0023": "Renamed"})))
    assert node.reload_config_if_changed(min_interval=0)
    assert node.disarm.name("T0023") == "Renamed"


def test_a_broken_disarm_edit_while_running_is_a_config_error_and_the_node_keeps_its_disarm(make_home, tmp_path):
    home = make_home("kz", "KZ")
    node = Node(home)
    node.reload_config_if_changed(min_interval=0)
    (tmp_path / "broken.json").write_text("{")
    set_config(home, "disarm", str(tmp_path / "broken.json"))
    assert node.reload_config_if_changed(min_interval=0) is False  # the last good configuration stays
    message, _since = node.config_error
    assert re.search("key 'disarm'.*is not JSON", message)
    assert node.reload_config_if_changed(min_interval=60) is False and node.config_error[0] == message
    assert node.disarm.source == "built-in" and node.config["disarm"] is None


@pytest.mark.parametrize("content, reason", [
    (None, "no file at"),
    (b"{not json", "is not JSON"),
    (b'{"type": "bundle", "objects": [{"type": "identity", "id": "identity--x"}]}', "holds no DISARM tactics"),
])
def test_a_missing_or_broken_disarm_file_is_a_start_up_error_naming_the_key(make_home, qalqan, tmp_path,
                                                                          content, reason):
    home = make_home("kz", "KZ")
    path = tmp_path / "disarm.json"
    if content is not None:
        path.write_bytes(content)
    set_config(home, "disarm", str(path))
    with pytest.raises(ConfigError, match=f"key 'disarm'.*{reason}"):
        Node(home)
    out = qalqan("status", home=home)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "key 'disarm'" in out.stderr and reason in out.stderr


def test_the_web_app_does_not_start_on_a_broken_disarm_file(make_home, tmp_path):
    from node.app import create_app
    home = make_home("kz", "KZ")
    (tmp_path / "broken.json").write_text("[]")
    set_config(home, "disarm", str(tmp_path / "broken.json"))
    with pytest.raises(ConfigError, match="key 'disarm'"):
        create_app(home)


def test_incident_add_on_a_fresh_home_rejects_an_unknown_technique_naming_the_field(make_home, qalqan, tmp_path):
    import yaml
    home = make_home("kz", "KZ")
    record = tmp_path / "inc.yaml"
    record.write_text(yaml.safe_dump(incident_record(disarm=["T9999"]), allow_unicode=True), "utf-8")
    out = qalqan("incident", "add", record, home=home)
    assert out.returncode == 2
    assert out.stderr.startswith("qalqan: disarm: T9999 is not a technique")


def test_disarm_update_installs_a_checked_bundle_and_names_it_in_config(make_home, qalqan, tmp_path):
    home = make_home("kz", "KZ")
    bundle = tiny_bundle(tmp_path / "DISARM-2030.json", rename={"T0023": "Newer name"})
    out = qalqan("disarm", "update", bundle, home=home)
    assert out.returncode == 0, out.stderr
    node = Node(home)
    installed = Path(node.config["disarm"])
    assert installed.parent == Path("data/disarm") and installed.name.startswith("DISARM-2030-")
    assert (home / installed).read_bytes() == bundle.read_bytes()
    assert node.disarm.name("T0023") == "Newer name"
    show = qalqan("disarm", "show", home=home)
    assert str(home / installed) in show.stdout and "techniques: 3" in show.stdout


@pytest.fixture
def web_folder(tmp_path):
    """A plain HTTP server on 127.0.0.1 serving tmp_path/www."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_disarm_update_downloads_a_release_over_http(make_home, qalqan, web_folder):
    folder, base = web_folder
    home = make_home("kz", "KZ")
    tiny_bundle(folder / "DISARM.json", rename={"T0002": "Downloaded name"})
    out = qalqan("disarm", "update", f"{base}/DISARM.json", home=home)
    assert out.returncode == 0, out.stderr
    assert Node(home).disarm.name("T0002") == "Downloaded name"


@pytest.mark.parametrize("name, content, reason", [
    ("missing.json", None, "HTTP 404"),
    ("page.html", b"<html>not json</html>", "is not JSON"),
    ("plain.json", b'{"type": "bundle", "objects": []}', "holds no DISARM tactics"),
    ("tactics-only.json", "tactics-only", "holds no DISARM techniques"),
])
def test_disarm_update_refuses_what_is_not_a_disarm_bundle_and_changes_nothing(make_home, qalqan, web_folder,
                                                                             name, content, reason):
    folder, base = web_folder
    home = make_home("kz", "KZ")
    if content == "tactics-only":
        tiny_bundle(folder / name, techniques=())
    elif content is not None:
        (folder / name).write_bytes(content)
    before = (home / "config.yaml").read_bytes()
    out = qalqan("disarm", "update", f"{base}/{name}", home=home)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and reason in out.stderr and "nothing changed" in out.stderr
    assert (home / "config.yaml").read_bytes() == before
    assert not (home / "data" / "disarm").exists()


def test_disarm_update_refuses_a_missing_file(make_home, qalqan, tmp_path):
    home = make_home("kz", "KZ")
    out = qalqan("disarm", "update", tmp_path / "nowhere.json", home=home)
    assert out.returncode == 2 and "nowhere.json: cannot be read" in out.stderr


def test_compact_reference_keeps_countermeasures_by_id_and_name():
    objects = parse_bundle(json.dumps({"type": "bundle", "objects": [
        {"type": "x-mitre-tactic", "id": "x-mitre-tactic--1", "name": "Plan", "x_mitre_shortname": "plan",
         "external_references": [{"source_name": "DISARM", "external_id": "TA01"}]},
        {"type": "attack-pattern", "id": "attack-pattern--1", "name": "A technique", "description": "long text",
         "kill_chain_phases": [{"phase_name": "plan"}],
         "external_references": [{"source_name": "mitre-attack", "external_id": "T0001"}]},
        {"type": "course-of-action", "id": "course-of-action--1", "name": "Prebunk", "description": "long text",
         "external_references": [{"source_name": "DISARM", "external_id": "C00009"}]},
    ]}).encode())
    ref = compact_reference(objects)
    assert ref["countermeasures"] == [{"id": "C00009", "name": "Prebunk", "stix_id": "course-of-action--1"}]
    assert "long text" not in json.dumps(ref)


@pytest.mark.parametrize("raw, reason", [
    (b"[" * 100_000 + b"]" * 100_000, "nested deeper than"),
    (b'{"type": "bundle", "objects": [], "objects": []}', "duplicate key 'objects'"),
])
def test_a_hostile_bundle_is_refused_in_one_sentence(raw, reason):
    with pytest.raises(NotADisarmBundle, match=f"is not JSON \\(.*{reason}"):
        parse_bundle(raw)


def test_the_built_in_reference_lists_countermeasures_by_id_and_name_only():
    ref = json.loads(REFERENCE.read_text("utf-8"))
    assert len(ref["countermeasures"]) > 100
    assert all(set(c) == {"id", "name"} and re.match(r"^C\d{5}$", c["id"]) for c in ref["countermeasures"])
    assert len(ref["release"]["countermeasures_sha256"]) == 64
    disarm = Disarm.builtin()
    assert disarm.countermeasure_name("C00125") == "Prebunking"
    assert disarm.countermeasures["C00008"].stix_id is None
    disarm.check_countermeasure("C00008")
    with pytest.raises(InputError, match="^countermeasures: C09999 is not a countermeasure of the loaded"):
        disarm.check_countermeasure("C09999")
    with pytest.raises(InputError, match="^countermeasures: 'T0023' is not a DISARM countermeasure id"):
        disarm.check_countermeasure("T0023")


COUNTERS_INDEX = """# DISARM Counters:

<table border="1">
<tr>
<th>disarm_id</th>
<th>name</th>
<th>summary</th>
</tr>
<tr>
<td><a href="counters/C00008.md">C00008</a></td>
<td>Create shared fact-checking database</td>
<td>A long summary that must not be copied.</td>
</tr>
<tr>
<td><a href="counters/C00125.md">C00125</a></td>
<td>Prebunking</td>
<td>Another summary.</td>
</tr>
</table>
"""


@pytest.mark.parametrize("name, table", [
    ("counters_index.md", COUNTERS_INDEX),
    ("countermeasures.csv", 'disarm_id,name,summary\nC00125,Prebunking,"Another, summary"\n'
                            "C00008,Create shared fact-checking database,A long summary that must not be copied.\n"),
])
def test_the_build_script_takes_countermeasures_from_disarms_table_when_the_bundle_has_none(tmp_path, name, table):
    bundle = tiny_bundle(tmp_path / "DISARM.json")
    (tmp_path / name).write_text(table, "utf-8")
    out = tmp_path / "reference.json"
    run = subprocess.run([sys.executable, str(REPO / "scripts" / "build_disarm_reference.py"), str(bundle),
                          "--countermeasures", str(tmp_path / name), "-o", str(out)],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "2 countermeasures" in run.stdout
    built = json.loads(out.read_text("utf-8"))
    assert built["countermeasures"] == [{"id": "C00008", "name": "Create shared fact-checking database"},
                                        {"id": "C00125", "name": "Prebunking"}]
    assert "summary" not in out.read_text("utf-8")


def test_a_bundle_without_countermeasures_keeps_the_built_in_ones_and_says_so(make_home, qalqan, tmp_path):
    home = make_home("kz", "KZ")
    out = qalqan("disarm", "update", tiny_bundle(tmp_path / "DISARM.json"), home=home)
    assert out.returncode == 0, out.stderr
    assert "the built-in list (the bundle has no course-of-action objects)" in out.stdout
    node = Node(home)
    assert node.disarm.countermeasure_name("C00125") == "Prebunking"
    assert "countermeasures: " in qalqan("disarm", "show", home=home).stdout


def test_a_bundle_with_course_of_action_objects_gives_the_countermeasures_and_their_stix_ids(make_home, tmp_path):
    home = make_home("kz", "KZ")
    bundle = tiny_bundle(tmp_path / "DISARM.json")
    data = json.loads(bundle.read_text("utf-8"))
    data["objects"].append({"type": "course-of-action", "spec_version": "2.1", "id": f"course-of-action--{uuid.uuid4()}",
                            "created": "2030-01-01T00:00:00.000Z", "modified": "2030-01-01T00:00:00.000Z",
                            "name": "Prebunking (2030)",
                            "external_references": [{"source_name": "DISARM", "external_id": "C00125"}]})
    bundle.write_text(json.dumps(data), "utf-8")
    set_config(home, "disarm", str(bundle))
    disarm = Node(home).disarm
    assert list(disarm.countermeasures) == ["C00125"]
    assert disarm.countermeasures["C00125"].stix_id == data["objects"][-1]["id"]
    assert disarm.countermeasure_name("C00125") == "Prebunking (2030)"
