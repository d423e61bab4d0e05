"""deploy/grafana/ordertrack.json cannot drift from GET /metrics: every series it queries is
one the app exposes, every series the app exposes has a panel, and the Prometheus data
source is a variable, so the dashboard imports into any Grafana."""

import json
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ordertrack.settings import Settings
from ordertrack.store.migrate import upgrade
from service.app import create_app

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "ordertrack.json"

#: The sample names each kind of family shows in Prometheus.
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


@pytest.fixture(scope="module")
def exposed(tmp_path_factory) -> dict[str, set[str]]:
    """Family name -> the sample names a query may use, as a real /metrics says them."""
    url = f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'ordertrack.db'}"
    upgrade(url)
    app = create_app(Settings(database_url=url))
    try:
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["ordertrack"].engine.dispose()
    return {
        family.name: {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for family in text_string_to_metric_families(text)
        if family.name.startswith("ordertrack_")
    }


def _panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def _queried() -> set[str]:
    exprs = [target["expr"] for panel in _panels() for target in panel["targets"]]
    return {name for expr in exprs for name in re.findall(r"\bordertrack_\w+", expr)}


def test_every_series_the_dashboard_queries_is_exposed(exposed):
    names = set().union(*exposed.values())
    missing = sorted(_queried() - names)
    assert not missing, f"the dashboard queries series /metrics does not expose: {missing}"


def test_every_exposed_family_has_a_panel(exposed):
    queried = _queried()
    unshown = sorted(family for family, names in exposed.items() if not names & queried)
    assert not unshown, f"no panel shows {unshown}"


def test_every_panel_uses_the_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in _panels():
        sources = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
        assert all(s == {"type": "prometheus", "uid": "${datasource}"} for s in sources), panel
