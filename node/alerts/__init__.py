"""Watches and alerts (docs/alerts.md).

A watch is a saved incident filter owned by a web account, with where to say that
something matched: the badge in the UI always, and e-mail, webhooks and apprise URLs
when set. `watches` keeps them; `events` is the ingest hook that turns what arrives by
any door (a new incident, a correction or withdrawal, a sighting) into one notification
per event and watch, and queues its deliveries in the same transaction (an outbox);
`deliver` is the worker in `qalqan serve` that sends them, retrying with backoff.
"""

# A watch's filter fields, as the command line and the forms name them (node/alerts/watches.py).
FILTER_FIELDS = ("target_country", "technique", "verdict", "platform", "text", "observable")
