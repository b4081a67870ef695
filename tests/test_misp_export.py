"""What misp-stix (MISP's own STIX 2.1 import) makes of a Qalqan export: one event per
incident report holding the claim, the verdict, the DISARM galaxy tags and only the
incident's TLP tag."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from misp_stix_converter import stix_2_to_misp
from pymisp import MISPEvent
from pymispgalaxies import Clusters

from node.incident import VERDICTS
from node.misp import tags as misp_tags

from conftest import incident_record


@pytest.fixture(scope="module")
def disarm_galaxy() -> dict[str, str]:
    """MISP's DISARM galaxy: technique id → cluster value."""
    cluster = Clusters().get("disarm-techniques")
    return {v.to_dict()["meta"]["external_id"]: v.value for v in cluster.cluster_values.values()}


def misp_events(node, tmp_path: Path, **options) -> list[MISPEvent]:
    out = io.StringIO()
    node.export(out, **options)
    path = tmp_path / "export.json"
    path.write_text(out.getvalue(), "utf-8")
    result = stix_2_to_misp(path, output_dir=tmp_path / "misp", overwrite=True)
    assert result.get("success") == 1, result
    events = []
    for name in result["results"]:
        event = MISPEvent()
        event.load_file(str(name))
        events.append(event)
    return events


def tag_names(event: MISPEvent) -> list[str]:
    return [t.name for t in event.tags]


def test_misp_stix_keeps_claim_verdict_confidence_fact_check_disarm_and_the_one_true_tlp(kz, tmp_path,
                                                                                      disarm_galaxy):
    record = incident_record(tlp="amber", disarm=["T0023", "T0086.002"])
    kz.add_incident(record)
    [event] = misp_events(kz, tmp_path, feed="bilateral")
    names = tag_names(event)
    assert [n for n in names if n.startswith("tlp:")] == ["tlp:amber"]
    assert 'qalqan:verdict="fabricated"' in names
    assert {'qalqan:platform="telegram"', 'qalqan:platform="tiktok"', 'qalqan:target-country="KZ"',
            'qalqan:target-country="UZ"'} <= set(names)
    galaxy = [n for n in names if n.startswith("misp-galaxy:disarm-techniques=")]
    assert galaxy == [f'misp-galaxy:disarm-techniques="{disarm_galaxy[t]}"' for t in record["disarm"]]
    assert 'misp:confidence-level="usually-confident"' in names
    [report] = event.event_reports
    assert f"Claim: {record['claim']}" in report.content
    assert "Verdict: fabricated" in report.content and "Confidence: 85/100" in report.content
    assert f"Fact check: {record['fact_check_url']}" in report.content
    assert event.info == record["title"]


def test_an_export_of_every_tlp_tags_each_event_with_its_own_level_only(kz, tmp_path):
    titles = {}
    for level in ("clear", "green", "red", "amber+strict"):
        titles[kz.add_incident(incident_record(title=f"{level} one", tlp=level)).report_id.split("--")[1]] = level
    events = misp_events(kz, tmp_path)
    assert {e.info for e in events} == {"clear one", "green one"}
    for event in events:
        assert [n for n in tag_names(event) if n.startswith("tlp:")] == [f"tlp:{titles[event.uuid]}"]


def test_the_galaxy_table_names_techniques_as_misp_does_and_covers_the_builtin_release(kz, disarm_galaxy):
    shared = set(disarm_galaxy) & set(kz.disarm.techniques)
    assert len(shared) > 250
    for technique in shared:
        assert misp_tags.galaxy_tag(technique) == f'misp-galaxy:disarm-techniques="{disarm_galaxy[technique]}"'
    machinetags = set(Clusters().get("disarm-techniques").machinetags())  # the tag names MISP gives the clusters
    assert {misp_tags.galaxy_tag(t) for t in shared} <= machinetags
    missing = set(kz.disarm.techniques) - set(disarm_galaxy)
    assert all(misp_tags.galaxy_tag(t) is None for t in missing)


def test_the_qalqan_taxonomy_is_a_misp_machinetag_file_holding_every_label_the_node_emits():
    taxonomy = misp_tags.taxonomy()
    assert taxonomy["namespace"] == "qalqan" and isinstance(taxonomy["version"], int)
    predicates = {p["value"] for p in taxonomy["predicates"]}
    assert predicates == {"verdict", "platform", "target-country"}
    values = {(v["predicate"], e["value"]) for v in taxonomy["values"] for e in v["entry"]}
    assert {p for p, _ in values} <= predicates
    documented_platforms = ["telegram", "tiktok", "youtube", "facebook", "instagram", "x", "vk", "ok", "website",
                            "tv", "whatsapp", "threads", "radio", "print"]
    for verdict in VERDICTS:
        for label in misp_tags.labels(verdict, documented_platforms, ["KZ", "UZ", "AZ", "KG", "TR", "TM", "HU"]):
            namespace, _, rest = label.partition(":")
            predicate, _, quoted = rest.partition("=")
            assert namespace == "qalqan" and (predicate, json.loads(quoted)) in values, label


def test_misp_stix_on_the_incident_bundle_download_gives_the_one_true_tlp(analyst, node, tmp_path):
    result = node.add_incident(incident_record(tlp="amber"))
    path = tmp_path / "incident.json"
    path.write_bytes(analyst.get(f"/incidents/{result.incident_id}/stix.json").data)
    converted = stix_2_to_misp(path, output_dir=tmp_path / "misp", overwrite=True)
    assert converted.get("success") == 1, converted
    event = MISPEvent()
    event.load_file(str(converted["results"][0]))
    assert [n for n in tag_names(event) if n.startswith("tlp:")] == ["tlp:amber"]
    assert 'qalqan:verdict="fabricated"' in tag_names(event)
