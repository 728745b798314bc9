"""GET /v1/graph over the contract bundle."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient

from tests.e2e.test_api_routing import load


def test_the_unit_view_renders_as_svg_with_chinese_labels(app_client: TestClient) -> None:
    load(app_client)
    response = app_client.get("/v1/graph?view=unit&focus=D-ZJ&format=svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    ET.fromstring(response.content)
    assert "区住房和城乡建设委员会" in response.text


def test_the_matrix_view_as_json_carries_nodes_and_edges(app_client: TestClient) -> None:
    load(app_client)
    body = app_client.get("/v1/graph?view=matrix&focus=110199&format=json").json()
    assert body["nodes"] and "edges" in body


def test_bad_graph_parameters_are_4xx_naming_the_parameter(app_client: TestClient) -> None:
    load(app_client)
    for query, field in (("view=nope&focus=x", "view"), ("view=unit&focus=NOPE", "focus"),
                         ("view=unit&focus=D-ZJ&format=gif", "format")):
        response = app_client.get(f"/v1/graph?{query}")
        assert 400 <= response.status_code < 500
        assert response.json()["field"] == field


def test_graph_filters_keep_one_unit_kind_and_one_district(app_client: TestClient) -> None:
    load(app_client)
    body = app_client.get("/v1/graph?view=category&focus=03&format=json"
                          "&unit_kind=department&district=110199").json()
    units = [n for n in body["nodes"] if n["kind"] == "unit"]
    assert units
    assert {n["unit_kind"] for n in units} == {"department"}
    for query, field in (("unit_kind=planet", "unit_kind"), ("district=110199001", "district")):
        response = app_client.get(f"/v1/graph?view=category&focus=03&{query}")
        assert response.status_code == 422
        assert response.json()["field"] == field
