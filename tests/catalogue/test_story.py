"""Stories of one catalogue: a price or stock changed in the shop is the same in the Bitrix24
catalogue, on a new deal's product rows and in Mailchimp, and `catalogue diff` finds nothing."""

from __future__ import annotations

import json

from click.testing import CliRunner

from connector.catalogue import diff, product, variant_by_sku
from connector.cli import main


def test_a_price_changed_in_the_shop_reaches_the_crm_catalogue_a_new_deal_and_mailchimp(
    catalogue_world,
):
    world = catalogue_world
    tea = world.product(
        name="Green tea", sku="TEA-1", regular_price="10.00", manage_stock=True, stock_quantity=7
    )
    world.settle()
    [item] = world.crm_items("TEA-1")
    assert (item["NAME"], item["PRICE"], item["ACTIVE"], item["PROPERTY_STOCK"]) == (
        "Green tea", "10.00", "Y", "7",
    )  # fmt: skip
    [variant] = world.mailchimp_product(tea["id"])["variants"]
    assert (variant["sku"], variant["price"], variant["inventory_quantity"]) == ("TEA-1", 10.0, 7)

    world.change(tea["id"], regular_price="12.50")
    world.settle()

    [item] = world.crm_items("TEA-1")
    assert item["PRICE"] == "12.50"
    [variant] = world.mailchimp_product(tea["id"])["variants"]
    assert variant["price"] == 12.5
    # the change was a PATCH of the variant, not the product posted again
    assert [w["action"] for w in world.writes(system="mailchimp", entity="variant")] == ["update"]
    assert len(world.writes(system="bitrix24", entity="product", action="add")) == 1

    world.buy(tea["id"], quantity=2)
    world.settle()
    [deal] = world.deals()
    [row] = world.state("bitrix24")["product_rows"][deal["ID"]]
    assert (row["PRODUCT_ID"], row["PRICE"], row["QUANTITY"]) == (int(item["ID"]), 12.5, 2)
    assert list(diff.differences(world.services)) == []
    assert world.dead_letters() == []


def test_a_product_deleted_in_the_shop_stays_everywhere_marked_unavailable(catalogue_world):
    world = catalogue_world
    mug = world.product(name="Mug", sku="MUG-1", regular_price="5.00")
    world.settle()
    world.next_second()
    world.services.woocommerce.request("DELETE", f"/products/{mug['id']}", params={"force": "true"})
    world.settle()

    kept = product(world.services.engine, str(mug["id"]))
    assert kept is not None and kept.status == "deleted" and not kept.available
    [item] = world.crm_items("MUG-1")
    assert item["ACTIVE"] == "N"
    [variant] = world.mailchimp_product(mug["id"])["variants"]
    assert variant["inventory_quantity"] == 0
    assert list(diff.differences(world.services)) == []


def test_catalogue_diff_lists_a_price_a_manager_changed_in_the_crm_and_fix_puts_it_back(
    catalogue_world,
):
    world = catalogue_world
    world.product(name="Kettle", sku="KET-1", regular_price="30.00")
    world.settle()
    [item] = world.crm_items("KET-1")
    world.services.bitrix24.call("crm.product.update", {"id": item["ID"], "fields": {"PRICE": 1}})
    env = {
        **world.sandbox.settings_env(),
        "CONNECTOR_DATABASE_URL": world.services.settings.database_url,
        "CONNECTOR_ENV_FILE": "/nonexistent.env",
    }
    runner = CliRunner()

    found = runner.invoke(main, ["catalogue", "diff", "--copy", "bitrix24", "--json"], env=env)
    assert found.exit_code == 1, found.output
    [line] = [json.loads(text) for text in found.output.splitlines()]
    assert (line["sku"], line["field"], line["master"], line["held"]) == (
        "KET-1", "price", "30.00", "1.00",
    )  # fmt: skip
    fixed = runner.invoke(main, ["catalogue", "diff", "--copy", "bitrix24", "--fix"], env=env)
    assert fixed.exit_code == 1 and "queued 1 push task" in fixed.output
    world.settle()
    again = runner.invoke(main, ["catalogue", "diff"], env=env)
    assert again.exit_code == 0, again.output
    assert world.crm_items("KET-1")[0]["PRICE"] == "30.00"


def test_copies_that_drop_a_fifth_of_their_writes_still_converge(catalogue_world):
    world = catalogue_world
    for name in ("bitrix24", "mailchimp"):
        world.sandbox.faults(name, error_rate=0.2, statuses=[500, 502, 503], seed=11)
    for n in range(1, 21):
        world.product(name=f"Item {n}", sku=f"SKU-{n}", regular_price=f"{n}.00")
    world.settle(timeout=90)
    for name in ("bitrix24", "mailchimp"):
        world.sandbox.faults(name, error_rate=0.0)

    assert world.dead_letters() == []
    assert list(diff.differences(world.services)) == []
    for n in range(1, 21):
        assert len(world.crm_items(f"SKU-{n}")) == 1  # no item added twice by a retry
        assert variant_by_sku(world.services.engine, f"SKU-{n}") is not None
