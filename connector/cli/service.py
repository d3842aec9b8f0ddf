"""`serve`, `worker`, `scheduler` and `run`: the long-running processes of the connector."""

from __future__ import annotations

import logging
import threading

import click

from connector.cli._common import (
    build_services,
    env_file_option,
    on_stop_signal,
    reload_mappings_on_sighup,
)

log = logging.getLogger("connector")


@click.command()
@env_file_option
def serve(env_file: str | None) -> None:
    """Serve webhooks, /healthz and /metrics under granian (CONNECTOR_HTTP_WORKERS processes)."""
    import os

    from connector.app import serve as serve_app

    if env_file:  # the server's processes build their own services from it
        os.environ["CONNECTOR_ENV_FILE"] = env_file
    services = build_services(env_file)  # a bad setting or store fails here, in one line
    settings = services.settings
    services.engine.dispose()  # each server process opens its own
    log.info("serving on http://%s:%s", settings.http_host, settings.http_port)
    serve_app(settings)


@click.command()
@env_file_option
@click.option("--threads", type=click.IntRange(min=1), default=None, help="Worker threads.")
def worker(env_file: str | None, threads: int | None) -> None:
    """Claim and run queued tasks until SIGTERM or SIGINT."""
    from connector.worker import Worker

    services = build_services(env_file)
    services.require_mappings()  # invalid files and no good set saved: one line, exit 2
    the_worker = Worker(services, threads=threads)
    on_stop_signal(the_worker.stop)
    reload_mappings_on_sighup(services)
    the_worker.run()


@click.command()
@env_file_option
def scheduler(env_file: str | None) -> None:
    """Run the periodic jobs of jobs/ (each only enqueues a task) until SIGTERM or SIGINT."""
    from connector.scheduler import build_scheduler

    services = build_services(env_file)
    the_scheduler = build_scheduler(services)
    stopped = on_stop_signal(lambda: None)
    the_scheduler.start()
    log.info("scheduler started with %d job(s)", len(the_scheduler.get_jobs()))
    stopped.wait()
    the_scheduler.shutdown(wait=False)


@click.command()
@env_file_option
def run(env_file: str | None) -> None:
    """Web server, worker and scheduler in one process: enough for a small shop."""
    from connector.app import create_app
    from connector.scheduler import build_scheduler
    from connector.worker import Worker

    services = build_services(env_file)
    services.require_mappings()
    settings = services.settings
    the_worker = Worker(services)
    the_scheduler = build_scheduler(services)
    from connector.web_server import bound_port, stop_serving, waitress_server

    server = waitress_server(  # slow or idle clients cannot hold its threads or all its slots
        create_app(services),
        host=settings.http_host,
        port=settings.http_port,
        threads=settings.http_threads,
        read_timeout=settings.http_read_timeout,
        connection_limit=settings.http_connection_limit,
        max_body_bytes=settings.webhook_max_bytes,
    )

    def stop() -> None:
        the_worker.stop()
        stop_serving(server, grace=settings.http_read_timeout)

    on_stop_signal(stop)
    reload_mappings_on_sighup(services)
    worker_thread = threading.Thread(target=the_worker.run, name="worker")
    worker_thread.start()
    the_scheduler.start()
    log.info("running on http://%s:%s", settings.http_host, bound_port(server))
    try:
        server.run()
    except OSError:
        pass  # the listening socket was closed by stop()
    finally:
        the_worker.stop()
        the_scheduler.shutdown(wait=False)
        worker_thread.join()


commands = [serve, worker, scheduler, run]
