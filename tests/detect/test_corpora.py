"""The engine on two labelled corpora from outside the project (see their README / PROVENANCE).

- `interuss/`: the 13 operational intents of the InterUSS "standard conflicting flights" set,
  as airspace blocks of one party each, with the 30 pairs its conformance scenarios label
  (`must_conflict_with` / `must_not_conflict_with`), checked with 1 mm minima;
- `theatre/`: a 4-party, 265-item scenario whose every conflict was found by an independent
  brute-force checker, with `yes` (must be reported) and `close` (either answer) verdicts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import detente
from detente.interop.agreement import load_agreement
from detente.interop.plans import load_plan_files
from detente.model import Agreement, ConflictKind

DATA = Path(__file__).resolve().parent.parent / "data"


def _listing(pairs: list[tuple[str, ...]]) -> str:
    """One line per pair: `a x b`, or `kind: a x b`."""
    lines = [f"{p[0]}: {p[1]} x {p[2]}" if len(p) == 3 else f"{p[0]} x {p[1]}" for p in pairs]
    return "\n".join("  " + line for line in sorted(lines))


@pytest.fixture(scope="module")
def interuss() -> tuple[dict[frozenset[str], set[ConflictKind]], list[dict[str, object]]]:
    folder = DATA / "interuss"
    items = load_plan_files([folder / "interuss-standard.geojson"])
    agreement = load_agreement(folder / "agreement.toml")
    reported: dict[frozenset[str], set[ConflictKind]] = {}
    for c in detente.check(items, agreement):
        reported.setdefault(frozenset((c.a.party, c.b.party)), set()).add(c.kind)
    expected = json.loads((folder / "expected.json").read_text())["pairs"]
    return reported, expected


def test_interuss_corpus_is_whole(interuss) -> None:
    _, expected = interuss
    assert len(expected) == 30
    assert sum(bool(p["conflict"]) for p in expected) == 18


def test_interuss_conflicting_pairs_are_reported(interuss) -> None:
    reported, expected = interuss
    missed = [
        (p["a"], p["b"])
        for p in expected
        if p["conflict"] and reported.get(frozenset((p["a"], p["b"]))) != {ConflictKind.AIR}
    ]
    assert not missed, f"labelled conflicts not reported as one air conflict:\n{_listing(missed)}"


def test_interuss_clear_pairs_are_not_reported(interuss) -> None:
    reported, expected = interuss
    wrong = [
        (p["a"], p["b"])
        for p in expected
        if not p["conflict"] and frozenset((p["a"], p["b"])) in reported
    ]
    assert not wrong, f"labelled non-conflicts reported:\n{_listing(wrong)}"


@pytest.fixture(scope="module")
def theatre() -> tuple[dict[tuple[str, str, str], str], set[tuple[str, str, str]]]:
    """Expected verdicts and reported conflicts, as (kind, a, b) with air pairs in id order."""
    folder = DATA / "theatre"
    items = load_plan_files([folder / "theatre-150.geojson"])

    def key(kind: str, a: str, b: str) -> tuple[str, str, str]:
        return (kind, *sorted((a, b))) if kind == ConflictKind.AIR.value else (kind, a, b)

    expected = {
        key(e["kind"], e["a"], e["b"]): e["verdict"]
        for e in json.loads((folder / "expected.json").read_text())["conflicts"]
    }
    reported = {key(c.kind.value, c.a.id, c.b.id) for c in detente.check(items, Agreement())}
    return expected, reported


def test_theatre_sure_conflicts_are_reported(theatre) -> None:
    expected, reported = theatre
    assert sum(v == "yes" for v in expected.values()) > 50
    missed = [k for k, v in expected.items() if v == "yes" and k not in reported]
    assert not missed, f"sure conflicts not reported (kind, a, b):\n{_listing(missed)}"


def test_theatre_reports_nothing_unlisted(theatre) -> None:
    expected, reported = theatre
    extra = [k for k in reported if k not in expected]
    assert not extra, (
        f"conflicts the brute-force checker rules out (kind, a, b):\n{_listing(extra)}"
    )
