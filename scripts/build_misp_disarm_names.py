"""Write node/misp/disarm-techniques.json: DISARM technique id → the value of that
technique in MISP's own `disarm-techniques` galaxy (pip `pymispgalaxies`), so the
`misp-galaxy:disarm-techniques="…"` labels the node emits name clusters MISP has.

Run after upgrading pymispgalaxies: .venv/bin/python scripts/build_misp_disarm_names.py
"""
from __future__ import annotations

import json
from pathlib import Path

from pymispgalaxies import Clusters

OUT = Path(__file__).resolve().parent.parent / "node" / "misp" / "disarm-techniques.json"


def main() -> None:
    cluster = Clusters().get("disarm-techniques")
    names = {}
    for value in cluster.cluster_values.values():
        data = value.to_dict()
        names[data["meta"]["external_id"]] = data["value"]
    document = {"source": "MISP galaxy disarm-techniques (pymispgalaxies)", "version": cluster.version,
                "names": dict(sorted(names.items()))}
    OUT.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", "utf-8")
    print(f"{len(names)} techniques written to {OUT}")


if __name__ == "__main__":
    main()
