"""The last good mapping set outlives a restart: with a broken file the service runs on the set
kept in the store, says it is degraded, and tasks wait for the fix instead of dying."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest

from connector.errors import MappingError, MappingsUnusable, PermanentError, RateLimited
from connector.mapping import MappingSet, ReloadingMappings
from connector.mapping.saved import load_saved

GOOD = """
    system: shop
    entity: customer
    fields:
      - {canonical: email, system: email, transforms: [email]}
"""
BROKEN = GOOD.replace("[email]", "[emial]")
PROBLEM = "shop/customer.yaml:4: email: unknown transform 'emial' (did you mean 'email'?)"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _rewrite(path: Path, text: str) -> None:
    """Writes a file and moves its mtime on, so the rewrite is noticed within one clock tick."""
    import textwrap

    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_set_that_loads_valid_is_saved_once_and_again_after_a_valid_edit(
    write_mappings, services
) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    clock = Clock()
    ReloadingMappings(folder, store=services.engine, clock=clock)
    first = load_saved(services.engine)
    assert first is not None and first.saved_at == clock.now
    assert first.files == {"shop/customer.yaml": (folder / "shop/customer.yaml").read_text()}

    clock.now += 60  # a second process starting on the same files saves nothing new
    again = ReloadingMappings(folder, store=services.engine, clock=clock)
    assert load_saved(services.engine) == first and again.saved_at == first.saved_at

    clock.now += 60
    _rewrite(folder / "shop/customer.yaml", GOOD.replace("system: email", "system: mail"))
    assert again.reload_if_changed() is None
    edited = load_saved(services.engine)
    assert edited is not None and edited.saved_at == clock.now
    assert "system: mail" in edited.files["shop/customer.yaml"]
    assert edited.content_hash != first.content_hash


def test_a_restart_with_a_broken_file_runs_on_the_saved_set_with_a_loud_warning(
    write_mappings, services, caplog
) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    ReloadingMappings(folder, store=services.engine, clock=Clock(1_700_000_000.0))
    _rewrite(folder / "shop/customer.yaml", BROKEN)

    with caplog.at_level(logging.WARNING):
        restarted = ReloadingMappings(folder, store=services.engine)

    customer = restarted.current.get("shop", "customer")
    assert customer.to_canonical({"email": "A@B.CO"}) == {"email": "a@b.co"}
    assert restarted.status == "degraded" and restarted.from_store
    health = restarted.health()
    assert health["saved_at"] == "2023-11-14T22:13:20Z"
    assert [p.endswith(PROBLEM) for p in health["problems"]] == [True]
    [warning] = [r for r in caplog.records if "MAPPING FILES INVALID" in r.getMessage()]
    assert warning.levelno == logging.WARNING
    assert PROBLEM in warning.getMessage() and "2023-11-14T22:13:20Z" in warning.getMessage()


def test_fixing_the_file_returns_to_ok_on_the_files_again(write_mappings, services) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    ReloadingMappings(folder, store=services.engine)
    _rewrite(folder / "shop/customer.yaml", BROKEN)
    restarted = ReloadingMappings(folder, store=services.engine)
    assert restarted.status == "degraded"

    _rewrite(folder / "shop/customer.yaml", GOOD.replace("system: email", "system: mail"))
    assert restarted.reload_if_changed() is None

    assert restarted.status == "ok" and not restarted.from_store
    assert restarted.health()["problems"] == []
    assert restarted.current.get("shop", "customer").to_canonical({"mail": "C@D.CO"}) == {
        "email": "c@d.co"
    }


def test_a_live_invalid_edit_is_degraded_too(write_mappings, services) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder, store=services.engine)
    good = mappings.current
    _rewrite(folder / "shop/customer.yaml", BROKEN)

    assert mappings.reload_if_changed()
    assert mappings.current is good
    assert mappings.status == "degraded" and len(mappings.health()["problems"]) == 1
    saved = load_saved(services.engine)
    assert saved is not None and "[email]" in saved.files["shop/customer.yaml"]  # still the good


def test_with_no_saved_set_the_mappings_are_unusable_and_a_task_would_wait(
    write_mappings, services
) -> None:
    folder = write_mappings({"shop/customer.yaml": BROKEN})
    clock = Clock()
    mappings = ReloadingMappings(folder, store=services.engine, clock=clock, retry_wait=(5, 300))
    assert mappings.status == "unusable" and mappings.health()["saved_at"] is None

    with pytest.raises(MappingsUnusable) as raised:
        mappings.current  # noqa: B018 - reading it is what a flow does
    error = raised.value
    assert isinstance(error, RateLimited) and not isinstance(error, PermanentError)
    assert "\n" not in str(error) and PROBLEM in str(error) and "no good set" in str(error)
    assert error.wait == 5  # just broken: try again soon

    clock.now += 100
    with pytest.raises(MappingsUnusable) as later:
        mappings.current  # noqa: B018
    assert later.value.wait == 100  # broken for a while: back off
    clock.now += 10_000
    with pytest.raises(MappingsUnusable) as much_later:
        mappings.current  # noqa: B018
    assert much_later.value.wait == 300


def test_the_first_fix_is_picked_up_by_the_next_task_without_a_signal(write_mappings) -> None:
    folder = write_mappings({"shop/customer.yaml": BROKEN})
    mappings = ReloadingMappings(folder)
    with pytest.raises(MappingsUnusable):
        mappings.current  # noqa: B018
    _rewrite(folder / "shop/customer.yaml", GOOD)
    assert mappings.current.get("shop", "customer").to_canonical({"email": "E@F.CO"})
    assert mappings.status == "ok"


def test_a_lookup_the_set_in_force_lacks_waits_only_while_the_files_are_invalid(
    write_mappings, services
) -> None:
    folder = write_mappings({"shop/customer.yaml": GOOD})
    mappings = ReloadingMappings(folder, store=services.engine)
    with pytest.raises(MappingError) as for_good:
        mappings.current.get("shop", "cart")
    assert not isinstance(for_good.value, MappingsUnusable)

    # the admin adds the cart mapping with a typo: the cart task waits for the fix
    (folder / "shop/cart.yaml").write_text(
        "system: shop\nentity: cart\nfields:\n  - {canonical: id, system: id, transforms: [st]}\n"
    )
    assert mappings.reload_if_changed()
    with pytest.raises(MappingsUnusable, match="cannot serve this task"):
        mappings.current.get("shop", "cart")
    with pytest.raises(MappingsUnusable):
        mappings.current.value_map("shop", "cart_status")


def test_a_payload_a_valid_mapping_cannot_map_stays_a_permanent_failure(
    write_mappings, services
) -> None:
    dated = GOOD + "      - {canonical: updated_at, system: at, transforms: [datetime]}\n"
    folder = write_mappings({"shop/customer.yaml": dated})
    mappings = ReloadingMappings(folder, store=services.engine)
    _rewrite(folder / "shop/customer.yaml", BROKEN)
    mappings.reload_if_changed()
    assert mappings.status == "degraded"

    with pytest.raises(MappingError) as raised:
        mappings.current.get("shop", "customer").to_canonical({"email": "a@b.co", "at": "soon"})
    assert isinstance(raised.value, PermanentError)
    assert not isinstance(raised.value, MappingsUnusable)


def test_a_saved_set_names_its_files_as_the_folder_does(shipped) -> None:
    rebuilt, errors = MappingSet.from_sources(shipped.sources, shipped.directory)
    assert errors == [] and rebuilt is not None
    assert [m.file for m in rebuilt.mappings()] == [m.file for m in shipped.mappings()]
    assert rebuilt.systems() == shipped.systems()
    shop_order = {"id": 7, "totals": {"total": "12.50"}, "customer": {"email": "X@Y.CO"}}
    assert rebuilt.get("shop", "order").to_canonical(shop_order) == shipped.get(
        "shop", "order"
    ).to_canonical(shop_order)


def copy_of_the_shipped_mappings(tmp_path: Path) -> Path:
    folder = tmp_path / "site-mappings"
    shutil.copytree(Path(__file__).resolve().parents[2] / "mappings", folder)
    return folder


class WithMappingsDir:
    """The sandbox, whose settings for the connector name another mappings folder."""

    def __init__(self, sandbox, folder: Path) -> None:
        self._sandbox, self._folder = sandbox, folder

    def settings_env(self) -> dict[str, str]:
        return {**self._sandbox.settings_env(), "CONNECTOR_MAPPINGS_DIR": str(self._folder)}

    def __getattr__(self, name: str):
        return getattr(self._sandbox, name)


def test_after_a_restart_with_a_broken_file_an_order_still_reaches_bitrix24(
    fresh_sandbox, tmp_path, webhook_sink, store_url
) -> None:
    from connector.services import Services
    from tests.e2e.conftest import World, open_world
    from tests.support import make_settings

    folder = copy_of_the_shipped_mappings(tmp_path)
    first_run = Services(make_settings(tmp_path, database_url=store_url, mappings_dir=folder))
    assert first_run.mappings.status == "ok"  # the running service saved its good set
    first_run.close()
    order_file = folder / "woocommerce" / "order.yaml"
    good_text = order_file.read_text()
    _rewrite(order_file, good_text.replace("transforms: [email]", "transforms: [emial]"))

    sandbox = WithMappingsDir(fresh_sandbox, folder)
    with open_world(World, sandbox, tmp_path, webhook_sink, store_url) as world:
        health = world.client.get("/healthz")
        assert health.status_code == 200 and health.get_json()["status"] == "degraded"

        order = world.guest_order("olena@example.com", "(555) 555-0100", pay=True)
        world.settle()

        assert world.dead_letters() == []
        [deal] = world.deals()
        assert deal["ORIGIN_ID"] == f"woocommerce-{order['id']}"
        [contact] = world.contacts()
        assert [e["VALUE"] for e in contact["EMAIL"]] == ["olena@example.com"]

        _rewrite(order_file, good_text)  # the admin fixes the file
        assert world.client.get("/healthz").get_json()["status"] == "ok"
