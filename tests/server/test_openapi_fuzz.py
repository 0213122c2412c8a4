"""The OpenAPI document, and fuzzing of every operation it lists: no request makes the server fail.

Schemathesis generates requests from the live server's `/openapi.json` (inputs that fit the
schema, and inputs that do not), with a valid key; features and agreements that are nearly
valid (one member changed to any JSON value, numbers from the smallest up) go through the plan
and agreement routes. Any answer is fine but a 5xx. Runs on SQLite only: the request handling
under test is the same on both backends. Examples are derandomised: every run sends the same.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from .conftest import Live
from .plans import T0, T1, area, crossing_flight, flight, plan

#: Every route of the API; the document must list exactly these.
ROUTES = {
    ("GET", "/v1/me"),
    ("PUT", "/v1/items/{item_id}"),
    ("GET", "/v1/items"),
    ("GET", "/v1/items/{item_id}"),
    ("DELETE", "/v1/items/{item_id}"),
    ("POST", "/v1/plans"),
    ("GET", "/v1/conflicts"),
    ("GET", "/v1/conflicts/{conflict_id}"),
    ("POST", "/v1/messages"),
    ("GET", "/v1/messages"),
    ("GET", "/v1/messages/{message_id}"),
    ("GET", "/v1/events"),
    ("POST", "/v1/tracks"),
    ("GET", "/v1/tracks"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/admin/parties"),
    ("POST", "/v1/admin/parties"),
    ("POST", "/v1/admin/parties/{name}/rotate-key"),
    ("POST", "/v1/admin/parties/{name}/revoke"),
    ("GET", "/v1/admin/agreement"),
    ("PUT", "/v1/admin/agreement"),
    ("GET", "/v1/admin/feeds"),
}
EXAMPLES = 30
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture
def store_url(tmp_path) -> str:
    """SQLite only (overrides the two-backend fixture of conftest)."""
    return str(tmp_path / "detente.db")


def _seed(live: Live) -> None:
    """Something to find: items of two parties, their conflict, a message about it."""
    with live.client("blue") as blue, live.client("red") as red:
        placed = blue.post("/v1/plans", json=plan(flight("a"), area("z", "zone", 36.5, 36.0, 9e3)))
        assert placed.status_code == 200, placed.text
        answer = red.put("/v1/items/0", json=crossing_flight("0"))
        notices = answer.json()["conflicts"]
        assert len(notices) == 2, answer.text
        sent = red.post("/v1/messages", json={"type": "query", "conflict": notices[0]["id"]})
        assert sent.status_code == 201, sent.text


def _fuzz(strategy: Any, call: Callable[[Any], httpx.Response], examples: int = EXAMPLES) -> None:
    """Send what `strategy` generates with `call`; fail (with the smallest case) on a 5xx."""

    @settings(FUZZ, max_examples=examples)
    @given(case=strategy)
    def run(case: Any) -> None:
        response = call(case)
        assert response.status_code < 500, f"{response.status_code}: {response.text[:500]}"

    run()


def test_the_document_lists_every_route(live: Live) -> None:
    document = httpx.get(f"{live.url}/openapi.json", timeout=30).json()
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert listed == ROUTES
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            assert op.get("summary"), f"{method.upper()} {path} has no summary"


@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
@pytest.mark.parametrize(
    ("method", "path"), sorted(ROUTES), ids=[" ".join(r) for r in sorted(ROUTES)]
)
def test_no_request_makes_the_server_fail(
    live: Live, method: str, path: str, mode: GenerationMode
) -> None:
    _seed(live)
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    operation = schema[path][method]
    key = live.admin_key if path.startswith("/v1/admin") else live.keys["blue"]
    # The stream form of /v1/events never ends; its JSON form (`after`) is the one fuzzed.
    query = {"after": 0} if path == "/v1/events" else None
    strategy = operation.as_strategy(generation_mode=mode, query=query)
    auth = {"Authorization": f"Bearer {key}"}  # replaces any generated value when sent
    try:
        _fuzz(strategy, lambda case: case.call(base_url=live.url, headers=auth, timeout=30))
    except Unsatisfiable:
        # Nothing of this operation can break its schema (string path and header values only).
        assert mode is GenerationMode.NEGATIVE
    with live.client("blue") as blue:
        assert blue.get("/v1/me").status_code in (200, 401)  # still serving


# -- nearly valid plan items ---------------------------------------------------------------------

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from([T0, T1, "2015-10-01T06:30:00+03:00", "2015-10-01", "", "Feature"]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
BASES = {
    "flight": flight("f"),
    "airspace": area("s", "airspace", 36.5, 36.0, 20_000, alt_lower_m=5000, alt_upper_m=7000),
    "zone": area("z", "zone", 36.5, 36.0, 20_000),
    "strike": area("k", "strike", 36.5, 36.0, 5_000),
    "ground": {
        "type": "Feature",
        "id": "g",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[36.0, 36.0], [36.2, 36.0], [36.2, 36.2], [36.0, 36.0]]],
        },
        "properties": {"kind": "ground", "start": T0, "end": T1},
    },
}
BASE_IDS = {feature["id"] for feature in BASES.values()}
#: Where a member is changed: a path of keys and indices into the feature.
PLACES: list[tuple[Any, ...]] = [
    ("type",),
    ("id",),
    ("version",),
    ("geometry",),
    ("geometry", "type"),
    ("geometry", "coordinates"),
    ("geometry", "coordinates", 0),
    ("geometry", "coordinates", 0, 0),
    ("geometry", "coordinates", 0, 2),
    ("geometry", "coordinates", 1),
    ("properties",),
    ("properties", "kind"),
    ("properties", "party"),
    ("properties", "coordTimes"),
    ("properties", "coordTimes", 0),
    ("properties", "coordTimes", 1),
    ("properties", "start"),
    ("properties", "end"),
    ("properties", "radius_m"),
    ("properties", "alt_lower_m"),
    ("properties", "alt_upper_m"),
    ("properties", "zone_type"),
    ("properties", "callsign"),
]


def _changed(feature: dict[str, Any], place: tuple[Any, ...], value: Any, drop: bool) -> Any:
    """A copy of `feature` with the member at `place` set to `value` (or removed)."""
    out = copy.deepcopy(feature)
    parent: Any = out
    for step in place[:-1]:
        try:
            parent = parent[step]
        except (KeyError, IndexError, TypeError):
            return out
    last = place[-1]
    if isinstance(parent, dict):
        if drop:
            parent.pop(last, None)
        else:
            parent[last] = value
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        if drop:
            del parent[last]
        else:
            parent[last] = value
    return out


NEARLY_VALID = st.builds(
    _changed,
    st.sampled_from(sorted(BASES)).map(BASES.__getitem__),
    st.sampled_from(PLACES),
    JSON,
    st.booleans(),
)


def test_nearly_valid_items_never_make_the_server_fail(live: Live) -> None:
    _seed(live)
    strategy = st.tuples(NEARLY_VALID, st.sampled_from(["put", "plan", "dry-run"]))
    fresh = itertools.count()
    with live.client("blue") as blue:

        def send(case: tuple[Any, str]) -> httpx.Response:
            feature, route = case
            item_id = f"n{next(fresh)}"
            if isinstance(feature, dict) and str(feature.get("id")) in BASE_IDS:
                feature = {**feature, "id": item_id}  # a new item each time, unless id is fuzzed
            if route == "put":
                return blue.put(f"/v1/items/{item_id}", json=feature)
            params = {"dry_run": "true"} if route == "dry-run" else None
            return blue.post("/v1/plans", json=plan(feature), params=params)

        _fuzz(strategy, send, examples=400)


NUMERIC_TERMS = [
    *("horizontal_m", "vertical_m", "ground_buffer_m"),
    *("time_buffer_s", "notice_margin_s"),
]
#: Agreements: mostly valid ones, with numbers from the smallest up to 1,000 km (or s); larger
#: separations are not tried (the engine's cells grow with them), and some with any JSON value
#: but a number under any key.
NUMBERS = st.floats(min_value=0, max_value=1e6) | st.sampled_from([5e-324, 1e-300, 1e-9, 9260])
VALID_AGREEMENTS = st.builds(
    lambda numbers, own: {**numbers, **own},
    st.dictionaries(st.sampled_from(NUMERIC_TERMS), NUMBERS, max_size=5),
    st.dictionaries(st.just("include_own"), st.booleans(), max_size=1),
)
ANY_AGREEMENTS = st.dictionaries(
    st.sampled_from([*NUMERIC_TERMS, "include_own", "unknown", "horizontal_m ", "a = 1\nb"]),
    NUMBERS | st.floats(-1e6, -1e-300) | JSON.filter(lambda v: type(v) not in (int, float)),
    max_size=4,
)
AGREEMENTS = st.one_of(VALID_AGREEMENTS, VALID_AGREEMENTS, ANY_AGREEMENTS)


def test_nearly_valid_agreements_never_make_the_server_fail(live: Live) -> None:
    """Each accepted agreement judges the seeded items again, and notices are drawn anew."""
    _seed(live)
    with live.client() as admin:
        _fuzz(AGREEMENTS, lambda body: admin.put("/v1/admin/agreement", json=body), 60)
