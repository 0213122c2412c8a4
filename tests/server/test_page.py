"""The web page is served with the API: `/`, its files under `/static/`, and its configuration."""

from __future__ import annotations

import pytest

from .conftest import Live


@pytest.fixture
def store_url(tmp_path) -> str:
    """SQLite only (overrides the two-backend fixture of conftest): no store work here."""
    return str(tmp_path / "detente.db")


def test_the_page_is_served_with_a_strict_policy(live: Live):
    with live.client() as client:
        page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "<html" in page.text.lower()


def test_the_page_files_and_its_configuration(live: Live):
    with live.client() as client:
        page = client.get("/").text
        scripts = [part.split('"')[0] for part in page.split('src="')[1:]]
        assert scripts, "the page loads no script"
        for script in scripts:
            if script.startswith("/static/"):
                assert client.get(script).status_code == 200, script
        assert client.get("/static/no-such-file.js").status_code == 404
        assert client.get("/v1/config").json()["tile_url"] is None
