"""Saving mapping files from the console: checked with the whole set, every version kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from connector.mapping import ReloadingMappings
from connector.mapping.trial import BadPayload, try_payload
from connector.mapping.versions import (
    FOUND,
    MappingFiles,
    MappingRefused,
    StaleEdit,
    UnknownMappingFile,
    diff,
    text_hash,
)
from connector.store.tables import mapping_versions

CUSTOMER = """
    system: shop
    entity: customer
    fields:
      - {canonical: email, system: email, transforms: [email]}
"""
STATUS_MAP = """
    system: shop
    value_map: order_status
    values:
      processing: paid
"""
CRM = """
    system: crm
    entity: contact
    canonical: customer
    fields:
      - {canonical: email, system: EMAIL, transforms: [email]}
      - {canonical: first_name, system: NAME}
"""


@pytest.fixture
def folder(write_mappings) -> Path:
    return write_mappings({"shop/customer.yaml": CUSTOMER, "crm/contact.yaml": CRM})


@pytest.fixture
def files(folder: Path, tmp_path: Path) -> MappingFiles:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    mapping_versions.create(engine)
    moments = iter(range(1000, 2000))
    return MappingFiles(folder, engine, clock=lambda: float(next(moments)))


def test_an_invalid_text_is_refused_with_its_line_and_the_file_is_untouched(files, folder):
    before = (folder / "shop/customer.yaml").read_text()
    broken = before.replace("fields:", "fields:\n  - {canonical: email, sytem: mail}")
    with pytest.raises(MappingRefused) as refused:
        files.save("shop/customer.yaml", broken, "admin")
    [problem] = [p for p in refused.value.problems if "sytem" in str(p)]
    assert (problem.file, problem.line) == ("shop/customer.yaml", 4)
    assert (folder / "shop/customer.yaml").read_text() == before
    assert files.versions("shop/customer.yaml") == []


def test_a_text_that_breaks_another_file_is_refused_naming_that_file(write_mappings, tmp_path):
    folder = write_mappings(
        {
            "shop/order_status.yaml": STATUS_MAP,
            "shop/order.yaml": """
                system: shop
                entity: order
                fields:
                  - {canonical: status, system: status, transforms: [{map: order_status}]}
            """,
        }
    )
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    mapping_versions.create(engine)
    files = MappingFiles(folder, engine)
    renamed = (folder / "shop/order_status.yaml").read_text().replace("order_status", "statuses")
    with pytest.raises(MappingRefused) as refused:
        files.save("shop/order_status.yaml", renamed, "admin")
    assert any(p.file == "shop/order.yaml" for p in refused.value.problems)


def test_a_save_keeps_the_text_found_on_disk_then_the_new_one_with_who_saved_it(files, folder):
    path = "shop/customer.yaml"
    before = files.read(path)
    saved = files.save(path, before.replace("system: email", "system: mail"), "maria")
    assert "system: mail" in (folder / path).read_text()
    [new, found] = files.versions(path)
    assert (new.id, new.action, new.saved_by) == (saved.id, "save", "maria")
    assert (found.action, found.content) == (FOUND, before)
    changed = [line.text for line in diff(found.content, new.content, "a", "b")]
    assert [text for text in changed if text[:1] in "+-"] == [
        "-  - {canonical: email, system: email, transforms: [email]}",
        "+  - {canonical: email, system: mail, transforms: [email]}",
    ]


def test_a_revert_brings_an_old_text_back_as_a_new_version(files, folder):
    path = "shop/customer.yaml"
    original = files.read(path)
    files.save(path, original + "# one\n", "maria")
    files.save(path, original + "# two\n", "ivan")
    found = files.versions(path)[-1]
    back = files.revert(found.id, "maria")
    assert (folder / path).read_text() == original
    assert (back.action, back.reverts_to, back.saved_by) == ("revert", found.id, "maria")
    assert [v.action for v in files.versions(path)] == ["revert", "save", "save", FOUND]


def test_a_change_on_disk_since_the_editor_opened_is_not_overwritten(files, folder):
    path = "shop/customer.yaml"
    opened = text_hash(files.read(path))
    (folder / path).write_text(files.read(path) + "# pulled from git\n")
    with pytest.raises(StaleEdit):
        files.save(path, files.read(path) + "# mine\n", "maria", base_hash=opened)
    assert (folder / path).read_text().endswith("# pulled from git\n")


def test_an_edit_made_outside_the_console_shows_and_is_kept_before_the_next_save(files, folder):
    path = "shop/customer.yaml"
    files.save(path, files.read(path) + "# console\n", "maria")
    (folder / path).write_text(files.read(path) + "# git\n")
    state = next(s for s in files.states([]) if s.path == path)
    assert state.changed_outside and state.versions == 2
    files.save(path, files.read(path) + "# console again\n", "maria")
    assert [v.action for v in files.versions(path)] == ["save", FOUND, "save", FOUND]
    assert files.versions(path)[1].content.endswith("# git\n")


def test_only_files_of_the_folder_can_be_read_or_saved(files):
    for path in ("../store.db", "shop/missing.yaml", "/etc/passwd"):
        with pytest.raises(UnknownMappingFile):
            files.read(path)
        with pytest.raises(UnknownMappingFile):
            files.save(path, "x: 1", "admin")


def test_the_running_service_picks_a_saved_file_up(files, folder):
    mappings = ReloadingMappings(folder)
    path = "shop/customer.yaml"
    files.save(path, files.read(path).replace("system: email", "system: mail"), "maria")
    mappings.reload_if_changed()
    assert mappings.current.get("shop", "customer").to_canonical({"mail": "A@B.CO"}) == {
        "email": "a@b.co"
    }


def test_trying_a_payload_maps_it_in_and_out_to_each_other_system(folder):
    mappings = ReloadingMappings(folder).current
    trial = try_payload(mappings, "shop", "customer", json.dumps({"email": "Ann@Example.COM"}))
    assert trial.canonical == {"email": "ann@example.com"}
    [crm] = trial.outputs
    assert (crm.system, crm.entity) == ("crm", "contact")
    assert crm.result == {"EMAIL": "ann@example.com", "NAME": None}
    with pytest.raises(BadPayload, match="line 1, column 2"):
        try_payload(mappings, "shop", "customer", "{nope}")


def test_a_control_character_in_the_text_is_refused_at_its_line(files):
    path = "shop/customer.yaml"
    with pytest.raises(MappingRefused) as refused:
        files.save(path, files.read(path) + "# a\x00b\n", "admin")
    [problem] = refused.value.problems
    assert (problem.file, problem.line) == (path, 5) and "control characters" in str(problem)
