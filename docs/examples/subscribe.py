"""Subscribe to a Qalqan node's feed with taxii2-client (pip install taxii2-client).

    QALQAN_TOKEN=<secret> python subscribe.py https://qalqan.example.kz/taxii2/ "Regional" objects.json

The token is the one the node's operator made for you (`qalqan token create YOURNAME`);
without QALQAN_TOKEN only the node's public feeds are listed. The feed is named by its
title or id. Writes every object of the feed, as served, to the output file.
"""
from __future__ import annotations

import json
import os
import sys
import uuid

from taxii2client.common import TokenAuth
from taxii2client.v21 import Server, as_pages


def fetch_feed(discovery_url: str, feed: str, token: str | None) -> list[dict]:
    server = Server(discovery_url, auth=TokenAuth(key=token) if token else None)
    api_root = server.api_roots[0]
    collection = next((c for c in api_root.collections if feed in (c.title, c.id)), None)
    if collection is None:
        raise SystemExit(f"no feed {feed!r} you may read; you may read: "
                         + ", ".join(c.title for c in api_root.collections if c.can_read))
    objects = []
    # The node pages by date_added (at most 1,000 objects a page); as_pages follows `next`.
    for envelope in as_pages(collection.get_objects, per_request=1000):
        objects.extend(envelope.get("objects", []))
    return objects


def main() -> int:
    discovery_url, feed, out = sys.argv[1:4]
    objects = fetch_feed(discovery_url, feed, os.environ.get("QALQAN_TOKEN"))
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}, f,
                  ensure_ascii=False)
    incidents = [o for o in objects if o.get("type") == "incident"]
    print(f"{len(objects)} objects, {len(incidents)} incidents from {feed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
