"""The background sync inside `qalqan serve`: it follows config changes without a restart."""
from conftest import incident_record
from sync_fixtures import Network, edit_yaml, stored_json, wait_until


def test_serve_starts_pushing_to_a_feed_added_to_a_peers_push_list_while_it_runs(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    push_list = net["kz"].node().config.peers["uz"].push
    edit_yaml(net["kz"].home / "config.yaml", lambda data: data["peers"]["uz"].update(push=[]))
    try:
        net["uz"].start()            # never pulls: whatever reaches it was pushed
        net["kz"].start(sync=True)
        _, incident = net["kz"].add_incident(tmp_path, **incident_record(tlp="green"))

        edit_yaml(net["kz"].home / "config.yaml", lambda data: data["peers"]["uz"].update(push=push_list))
        wait_until(lambda: stored_json(net["uz"].home, incident), timeout=60, what="the push to reach UZ")
        assert stored_json(net["uz"].home, incident) == stored_json(net["kz"].home, incident)
    finally:
        net.stop()


def test_a_config_edit_that_does_not_load_leaves_the_background_sync_on_the_last_good_one(tmp_path):
    net = Network(tmp_path, {"kz": "KZ", "uz": "UZ"})
    net.link("kz", "uz", ["bilateral", "regional"])
    try:
        net["uz"].start()            # never pulls: whatever reaches it was pushed
        net["kz"].start(sync=True)
        kz = net["kz"].node()        # opened while config.yaml still loads
        config = net["kz"].home / "config.yaml"
        config.write_text(config.read_text("utf-8") + "\nbroken: [\n", "utf-8")
        wait_until(lambda: "sync keeps the last good configuration" in (net["kz"].home / "serve.log").read_text(),
                   what="the sync loop to notice the broken edit")
        incident = kz.add_incident(incident_record(tlp="green", disarm=[])).incident_id
        wait_until(lambda: stored_json(net["uz"].home, incident), timeout=60, what="the push to reach UZ")
    finally:
        net.stop()
