"""`make demo` plays its story and every invariant holds (one contact, one deal per order,
no cart left after the order, consent synced); a broken flow would show here first."""

from __future__ import annotations

from connector.demo import run_demo


# SQLite only: the demo makes its own SQLite store in a temporary folder (what `make demo` runs).
def test_the_demo_story_keeps_every_invariant():
    told: list[str] = []
    problems = run_demo(told.append)
    assert problems == [], "\n".join(told)
    assert any("the manager found contact" in line for line in told)
    assert told[-1].strip() == "all invariants hold"
