"""Settings, logging, scheduler jobs, health and metrics, and the admin commands."""

from __future__ import annotations

import json
import logging

import pytest
from click.testing import CliRunner

from connector.app import create_app
from connector.cli import main
from connector.config import load_settings, settings_markdown
from connector.errors import ConfigError, TransientError
from connector.logs import MaskingFilter, mask
from connector.queue import Queue
from connector.worker import Worker
from jobs import Job, enqueue_job


def test_settings_parse_types_and_name_the_bad_variable():
    settings = load_settings(
        env={"CONNECTOR_HTTP_PORT": "9001", "CONNECTOR_WORKER_THREADS": "3"}, env_file=None
    )
    assert settings.http_port == 9001 and settings.worker_threads == 3
    with pytest.raises(ConfigError, match="CONNECTOR_HTTP_PORT='http'"):
        load_settings(env={"CONNECTOR_HTTP_PORT": "http"}, env_file=None)
    with pytest.raises(ConfigError, match="did you mean CONNECTOR_LOG_LEVEL"):
        load_settings(env={"CONNECTOR_LOG_LEVL": "debug"}, env_file=None)


def test_settings_read_a_dotenv_file_under_the_environment(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("CONNECTOR_HTTP_PORT=7000\nCONNECTOR_MAILCHIMP_API_KEY=abc123-us6\n")
    settings = load_settings(env={"CONNECTOR_HTTP_PORT": "7100"}, env_file=env_file)
    assert settings.http_port == 7100
    assert settings.mailchimp_api_url == "https://us6.api.mailchimp.com/3.0"
    assert "abc123-us6" in settings.secrets()


def test_readme_documents_every_setting():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for line in settings_markdown().splitlines()[2:]:
        name = line.split("`")[1]
        assert name in readme, f"{name} missing from README"


def test_logs_mask_emails_phones_and_secrets():
    text = mask(
        "anna.k@example.com called from +7 (912) 345-67-89 with key s3cr3tkey",
        secrets=["s3cr3tkey"],
    )
    assert "anna.k@example.com" not in text and "a***@example.com" in text
    assert "345-67" not in text and "+7***89" in text
    assert "s3cr3tkey" not in text
    record = logging.LogRecord("x", logging.INFO, "", 0, "phone %s", ("89123456789",), None)
    MaskingFilter().filter(record)
    assert "3456" not in record.getMessage()


def test_two_schedulers_firing_the_same_bucket_enqueue_once(services):
    job = Job(name="poll-shop", kind="diagnostic.noop", every_seconds=300)
    other_scheduler_queue = Queue(services.engine)
    assert enqueue_job(services.queue, job, now=1_000) is not None
    assert enqueue_job(other_scheduler_queue, job, now=1_100) is None  # same 5-minute bucket
    assert enqueue_job(services.queue, job, now=1_300) is not None  # next bucket
    stats = services.queue.stats()
    assert (stats.queued, stats.waiting) == (1, 1)  # one job key: the next bucket waits its turn


def test_healthz_reports_queue_depth_age_and_dead_letters(services):
    client = create_app(services).test_client()
    services.queue.enqueue("diagnostic.probe", {"fail_runs": 9, "fail_as": "permanent"})
    services.queue.enqueue("diagnostic.noop", {}, run_at=services.queue.clock() + 3600)
    Worker(services).run_until_idle()
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["dead_letters"] == 1
    assert body["queue"]["queued"] == 1 and body["queue"]["oldest_queued_age_seconds"] >= 0


def test_metrics_expose_queue_gauges_and_task_counters(services):
    services.queue.enqueue("diagnostic.noop", {})
    Worker(services).run_until_idle()
    services.queue.enqueue("diagnostic.noop", {})
    text = create_app(services).test_client().get("/metrics").get_data(as_text=True)
    assert 'connector_tasks{state="queued"} 1.0' in text
    assert 'connector_tasks_processed_total{kind="diagnostic.noop",outcome="done"} 1.0' in text


def test_unknown_routes_answer_json_not_html(services):
    response = create_app(services).test_client().get("/nope")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


@pytest.fixture
def cli(settings, monkeypatch):
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CONNECTOR_ENV_FILE", "/nonexistent")
    return CliRunner()


def test_dlq_commands_list_show_replay_and_discard(cli, services):
    failing = services.queue.enqueue(
        "diagnostic.probe", {"name": "x", "fail_runs": 1, "fail_as": "permanent"}
    )
    Worker(services).run_until_idle()
    listed = cli.invoke(main, ["dlq", "list", "--json"])
    assert [row["id"] for row in json.loads(listed.output)] == [failing]
    shown = cli.invoke(main, ["dlq", "show", str(failing)])
    assert "probe failure on run 1" in shown.output and '"name": "x"' in shown.output
    assert cli.invoke(main, ["dlq", "replay", str(failing)]).output.strip() == "replayed 1 task(s)"
    Worker(services).run_until_idle()
    assert services.queue.get(failing)["state"] == "done"
    missing = cli.invoke(main, ["dlq", "replay", "999"])
    assert missing.exit_code == 2 and "no dead letter with id 999" in missing.output
    assert cli.invoke(main, ["dlq", "discard", "999"]).exit_code == 2


def test_status_json_counts_tasks(cli, services):
    services.queue.enqueue("diagnostic.noop", {})
    report = json.loads(cli.invoke(main, ["status", "--json"]).output)
    assert report["queue"]["queued"] == 1
    assert report["tasks_by_kind"] == [{"kind": "diagnostic.noop", "state": "queued", "count": 1}]


def test_bad_input_is_one_line_and_exit_code_2(cli, monkeypatch, tmp_path):
    result = cli.invoke(main, ["task", "enqueue", "no.such.kind"])
    assert result.exit_code == 2 and "unknown task kind 'no.such.kind'" in result.output
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "xml")
    result = cli.invoke(main, ["status"])
    assert result.exit_code == 2 and "CONNECTOR_LOG_FORMAT" in result.output
    assert "Traceback" not in result.output
    monkeypatch.setenv("CONNECTOR_LOG_FORMAT", "text")
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("CONNECTOR_DATABASE_URL", f"sqlite:///{blocker}/sub/db.sqlite")
    result = cli.invoke(main, ["status"])
    assert result.exit_code == 2 and "CONNECTOR_DATABASE_URL" in result.output


def test_probe_failures_are_typed(services):
    services.queue.enqueue("diagnostic.probe", {"fail_runs": 1})
    Worker(services).run_until_idle()
    [error] = services.queue.errors(1)
    assert error["error_type"] == TransientError.__name__


def test_committed_env_example_lists_every_setting_with_its_default():
    from pathlib import Path

    from connector.config import env_example

    committed = (Path(__file__).parents[2] / ".env.example").read_text()
    assert committed == env_example(), "run: connector config --example > .env.example"
    assert (
        load_settings(env={}, env_file=Path(__file__).parents[2] / ".env.example").http_port == 8000
    )


def test_only_jobs_of_configured_systems_are_scheduled(tmp_path):
    from connector.scheduler import active_jobs
    from connector.services import Services
    from tests.support import make_settings

    bare = {job.name for job in active_jobs(Services(make_settings(tmp_path / "a")))}
    assert "purge-done-tasks" in bare and "reconcile-bitrix24-deals" not in bare
    with_crm = Services(make_settings(tmp_path / "b", bitrix24_webhook_url="http://b24/rest/1/x/"))
    assert "reconcile-bitrix24-deals" in {job.name for job in active_jobs(with_crm)}


def test_threads_racing_to_first_use_share_one_engine_and_queue(tmp_path):
    import threading

    from connector.services import Services
    from tests.support import make_settings

    services = Services(make_settings(tmp_path / "race"))
    start, seen = threading.Barrier(8), []

    def first_use() -> None:
        start.wait()
        seen.append((services.engine, services.queue))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(engine) for engine, _ in seen}) == 1
    assert len({id(queue) for _, queue in seen}) == 1


def test_engines_migrating_one_new_store_at_once_all_succeed(tmp_path):
    import threading

    from connector.store import open_store
    from tests.support import make_settings

    for round_ in range(5):
        settings = make_settings(tmp_path / f"migrate{round_}")
        start, outcomes = threading.Barrier(8), []

        def migrate(settings=settings, start=start, outcomes=outcomes) -> None:
            start.wait()
            try:
                outcomes.append(open_store(settings).url.database)
            except Exception as error:  # noqa: BLE001 - the test reports what went wrong
                outcomes.append(error)

        threads = [threading.Thread(target=migrate) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert len(outcomes) == 8 and all(isinstance(o, str) for o in outcomes), outcomes


def test_migrations_build_exactly_the_tables_the_code_declares(any_store_services):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from connector.store.tables import MIGRATION_ONLY_INDEXES, metadata

    def declared(obj, name, type_, reflected, compare_to):  # alembic's include_object
        return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)

    with any_store_services.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_object": declared})
        differences = compare_metadata(context, metadata)
    assert differences == []
    catalog = {  # and the migration did make them (SQLite's reflection skips expression indexes)
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
        "postgresql": "SELECT indexname FROM pg_indexes",
    }[any_store_services.engine.dialect.name]
    with any_store_services.engine.connect() as connection:
        names = set(connection.execute(text(catalog)).scalars())
    assert names >= MIGRATION_ONLY_INDEXES


# -- mapping files broken on disk -------------------------------------------------------------


def site_mappings(tmp_path):
    """A copy of the shipped mappings, as an admin's own folder."""
    import shutil
    from pathlib import Path

    folder = tmp_path / "site-mappings"
    shutil.copytree(Path(__file__).parents[2] / "mappings", folder)
    return folder


def edit(path, old, new):
    """An admin's edit; the mtime moves on so it is noticed within one clock tick."""
    import os
    import time

    path.write_text(path.read_text().replace(old, new))
    later = time.time() + 5
    os.utime(path, (later, later))


TYPO = ("transforms: [email]", "transforms: [emial]")


def test_healthz_says_degraded_while_the_mapping_files_are_invalid_and_ok_once_fixed(tmp_path):
    from connector.services import Services
    from tests.support import make_settings

    folder = site_mappings(tmp_path)
    settings = make_settings(tmp_path, mappings_dir=folder)
    first_run = Services(settings)
    assert first_run.mappings.status == "ok"  # the good set is saved in the store
    first_run.close()
    edit(folder / "shop" / "order.yaml", *TYPO)

    restarted = Services(settings)
    client = create_app(restarted).test_client()
    answer = client.get("/healthz")
    body = answer.get_json()
    assert answer.status_code == 200 and body["status"] == "degraded"
    assert body["mappings"]["status"] == "degraded" and body["mappings"]["problems"] == 1
    assert body["mappings"]["saved_at"].endswith("Z")

    edit(folder / "shop" / "order.yaml", *reversed(TYPO))
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["mappings"]["status"] == "ok"
    restarted.close()


def test_status_shows_the_mapping_files_degraded_with_each_problem(cli, settings, monkeypatch):
    folder = site_mappings(_tmp(settings))
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(folder))
    assert cli.invoke(main, ["status", "--json"]).exit_code == 0  # its first load saves the set
    edit(folder / "shop" / "order.yaml", *TYPO)

    report = json.loads(cli.invoke(main, ["status", "--json"]).stdout)["mappings"]
    assert report["status"] == "degraded" and report["saved_at"]
    [problem] = report["problems"]
    assert "shop/order.yaml:" in problem and "unknown transform 'emial'" in problem
    table = cli.invoke(main, ["status"]).stdout
    assert "mappings: DEGRADED: 1 problem" in table and "unknown transform 'emial'" in table


def _tmp(settings):
    from pathlib import Path

    from connector.config import sqlite_path

    return Path(sqlite_path(settings.database_url)).parent


def test_a_worker_will_not_start_without_any_good_mapping_set(cli, settings, monkeypatch):
    import signal

    from connector.worker import Worker as WorkerClass

    folder = site_mappings(_tmp(settings))
    edit(folder / "shop" / "order.yaml", *TYPO)
    monkeypatch.setenv("CONNECTOR_MAPPINGS_DIR", str(folder))
    started = []
    monkeypatch.setattr(WorkerClass, "run", lambda self, *a, **k: started.append(self))
    monkeypatch.setattr(signal, "signal", lambda *a: None)

    result = cli.invoke(main, ["worker"])

    assert result.exit_code == 2 and started == []
    *logged, line = result.output.strip().splitlines()  # the log lists every problem first
    assert line.startswith("error: the mapping files in ") and "no good set" in line
    assert "shop/order.yaml:" in line and "unknown transform 'emial'" in line


def test_an_order_queued_while_no_mapping_set_is_usable_waits_for_the_fix(tmp_path):
    from decimal import Decimal

    from connector.flows.hub import load_snapshot
    from connector.services import Services
    from tests.support import make_settings, wait_for

    folder = site_mappings(tmp_path)
    edit(folder / "shop" / "order.yaml", *TYPO)
    settings = make_settings(
        tmp_path, mappings_dir=folder, queue_backoff_base=0.01, queue_backoff_max=0.05
    )
    services = Services(settings)
    order = {"id": "S-1", "status": "processing", "currency": "usd", "totals": {"total": "9.50"}}
    task = services.queue.enqueue("shop.order", {"data": order})

    Worker(services).run_until_idle()
    row = services.queue.get(task)
    assert row["state"] == "queued" and row["attempts"] == 0  # waiting, and no attempt spent
    assert services.queue.errors(task) == []  # a wait is no failure: the history stays empty
    assert "mapping" in row["last_error"]  # but the task says what it waits for

    edit(folder / "shop" / "order.yaml", *reversed(TYPO))

    def done() -> bool:
        Worker(services).run_until_idle()
        return services.queue.get(task)["state"] == "done"

    wait_for(done)  # its next try is at most queue_backoff_max away
    assert services.queue.dead_letters() == []
    [oid] = [oid for oid in _order_ids(services)]
    assert load_snapshot(services.engine, "order", oid)["total"] == Decimal("9.50")
    services.close()


def _order_ids(services):
    from sqlalchemy import select

    from connector.store.tables import links

    with services.engine.connect() as connection:
        return list(
            connection.scalars(
                select(links.c.canonical_id).where(
                    links.c.entity == "order", links.c.system == "shop"
                )
            )
        )
