"""The service follows edits of the mapping files and keeps the last good set on a bad edit."""

from __future__ import annotations

import os
import signal
import time

import pytest

from connector.errors import MappingsUnusable
from connector.mapping import ReloadingMappings

GOOD = """
    system: shop
    entity: customer
    fields:
      - {canonical: email, system: email, transforms: [email]}
"""


def _touch_later(path) -> None:
    """Moves the mtime forward so a rewrite within the same clock tick is still noticed."""
    later = time.time() + 5
    os.utime(path, (later, later))


def test_an_edit_is_picked_up(write_mappings) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder)
    assert mappings.reload_if_changed() is None
    first = mappings.current
    path = folder / "shop/customer.yaml"
    path.write_text(path.read_text().replace("system: email", "system: mail"))
    _touch_later(path)
    assert mappings.reload_if_changed() is None
    assert mappings.current is not first
    assert mappings.current.get("shop", "customer").to_canonical({"mail": "A@B.CO"}) == {
        "email": "a@b.co"
    }


def test_an_invalid_edit_is_reported_and_the_last_good_set_stays(write_mappings, caplog) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder)
    good = mappings.current
    path = folder / "shop/customer.yaml"
    path.write_text(path.read_text().replace("[email]", "[emial]"))
    _touch_later(path)
    errors = mappings.reload_if_changed()
    assert errors and "unknown transform 'emial' (did you mean 'email'?)" in str(errors[0])
    assert mappings.current is good
    assert "mapping reload rejected" in caplog.text
    assert mappings.reload_if_changed() is None  # reported once, not on every check


def test_a_new_file_counts_as_a_change(write_mappings) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder)
    (folder / "shop/cart.yaml").write_text(
        "system: shop\nentity: cart\nfields:\n  - {canonical: id, system: id}\n"
    )
    assert mappings.changed()
    assert mappings.reload_if_changed() is None
    assert mappings.current.get("shop", "cart").to_canonical({"id": "c1"}) == {"id": "c1"}


@pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="no SIGHUP on this platform")
def test_sighup_reloads(write_mappings) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder)
    first = mappings.current
    previous = signal.signal(signal.SIGHUP, mappings.on_sighup)
    try:
        os.kill(os.getpid(), signal.SIGHUP)
    finally:
        signal.signal(signal.SIGHUP, previous)
    assert mappings.current is not first


def test_an_invalid_first_load_with_no_saved_set_makes_tasks_wait(write_mappings) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD.replace("[email]", "[emial]")})
    mappings = ReloadingMappings(folder)  # no store: no saved set to fall back on
    assert mappings.status == "unusable"
    with pytest.raises(MappingsUnusable, match="unknown transform 'emial'"):
        mappings.current  # noqa: B018 - reading it is what a flow does
