"""Alerts end to end: incidents from the store's signals, told once to every channel."""

from __future__ import annotations

import json
from pathlib import Path

import requests
import responses
from click.testing import CliRunner

from connector.alerts.evaluate import evaluate, send_test
from connector.alerts.refusals import RefusalCounter
from connector.alerts.status import incidents
from connector.cli import main
from connector.errors import PermanentError
from connector.scheduler import build_scheduler
from connector.services import Services
from jobs import all_jobs
from tests.alerts.conftest import Clock, Inbox, alert_services
from tests.support import make_settings

TELEGRAM = "https://telegram.test"
TOKEN = "123456:telegram-secret-token"
HOOK = "https://hooks.slack.test/services/T0/B0/hook-secret"


def die(services: Services, kind: str, error: str) -> int:
    """A task of `kind` that becomes a dead letter with `error`."""
    task_id = services.queue.enqueue(kind, {"n": 1})
    [task] = [t for t in services.queue.claim("w1", 50) if t.id == task_id]
    services.queue.fail(task, "w1", PermanentError(error))
    assert task_id is not None
    return task_id


def lag(services: Services, clock: Clock, minutes: float) -> int:
    """A due task nobody claims for `minutes`: the queue lags."""
    task_id = services.queue.enqueue("diagnostic.noop", {}, run_at=clock.now)
    clock.advance(minutes * 60)
    assert task_id is not None
    return task_id


def drain(services: Services) -> None:
    for task in services.queue.claim("w1", 50):
        services.queue.complete(task, "w1")


def test_dead_letters_make_exactly_one_email_per_digest_interval(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]
):
    inbox, port = smtp
    services = alert_services(tmp_path, clock, port, alerts_digest_minutes=15)
    clock.now = 1_800_000_000 - 1_800_000_000 % 900 + 60  # a minute into an interval
    die(services, "push.bitrix24.deal", "no stage for customer anna@example.com +79123456789")
    die(services, "push.bitrix24.deal", "no stage")
    evaluate(services)
    assert len(inbox.mails) == 1
    mail = inbox.mails[0]
    assert "2 new dead letters" in mail["Subject"]
    assert mail["To"] == "ops@example.com, oncall@example.com"
    body = mail.get_content()
    assert "push.bitrix24.deal" in body
    assert "anna@example.com" not in body and "79123456789" not in body

    for _ in range(5):  # more dead letters, more evaluations within the same interval
        clock.advance(60)
        die(services, "shop.order", "bad total")
        evaluate(services)
    assert len(inbox.mails) == 1

    clock.advance(10 * 60)  # the next interval: one digest of what died since the last one
    evaluate(services)
    evaluate(services)
    assert len(inbox.mails) == 2
    assert "5 new dead letters" in inbox.mails[1]["Subject"]
    assert "shop.order" in inbox.mails[1].get_content()

    clock.advance(15 * 60)  # nothing new: no mail
    evaluate(services)
    assert len(inbox.mails) == 2


def test_an_incident_is_told_once_when_it_opens_and_once_when_it_clears_across_a_restart(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]
):
    inbox, port = smtp
    services = alert_services(tmp_path, clock, port, alerts_queue_lag_minutes=10)
    lag(services, clock, minutes=5)
    evaluate(services)
    assert inbox.mails == []  # under the threshold

    clock.advance(6 * 60)
    evaluate(services)
    evaluate(services)
    assert inbox.subjects() == [inbox.subjects()[0]]
    assert inbox.subjects()[0].startswith("[connector] PROBLEM: the oldest due task")
    [incident] = incidents(services.engine, open_only=True)
    assert incident.rule == "queue_lag" and incident.sends == {"open/email": "sent"}
    services.close()

    restarted = alert_services(tmp_path, clock, port, alerts_queue_lag_minutes=10)
    clock.advance(60)
    evaluate(restarted)  # still lagging: the incident is the same, nothing is sent again
    assert len(inbox.mails) == 1

    drain(restarted)
    clock.advance(60)
    evaluate(restarted)
    evaluate(restarted)
    assert len(inbox.mails) == 2
    assert inbox.subjects()[1].startswith("[connector] RESOLVED: the oldest due task")
    assert "after 2 min" in inbox.mails[1].get_content()  # opened at 11, cleared at 13
    assert incidents(restarted.engine, open_only=True) == []

    lag(restarted, clock, minutes=11)  # it happens again: a new incident, told again
    evaluate(restarted)
    assert len(inbox.mails) == 3
    restarted.close()


@responses.activate
def test_a_channel_that_times_out_does_not_stop_the_others_and_gets_its_message_later(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]
):
    inbox, port = smtp
    services = alert_services(
        tmp_path,
        clock,
        port,
        alerts_telegram_url=TELEGRAM,
        alerts_telegram_token=TOKEN,
        alerts_telegram_chat_id="-100200300",
        alerts_webhook_url=HOOK,
    )
    sent = f"{TELEGRAM}/bot{TOKEN}/sendMessage"
    responses.post(sent, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.post(HOOK, body="ok")
    lag(services, clock, minutes=11)

    result = evaluate(services)
    assert result.sent == {"email": 1, "webhook": 1}
    assert "telegram" in result.failed and "timed out" in result.failed["telegram"]
    assert TOKEN not in result.failed["telegram"]
    assert len(inbox.mails) == 1
    [hook] = [c for c in responses.calls if c.request.url == HOOK]
    assert json.loads(hook.request.body)["text"].startswith("[connector] PROBLEM:")

    responses.replace(responses.POST, sent, json={"ok": True, "result": {}})
    clock.advance(60)
    result = evaluate(services)
    assert result.sent == {"telegram": 1}  # the owed one only: no duplicate elsewhere
    assert len(inbox.mails) == 1
    telegram = json.loads(responses.calls[-1].request.body)
    assert telegram["chat_id"] == "-100200300"
    assert telegram["text"].startswith("[connector] PROBLEM: the oldest due task")
    [incident] = incidents(services.engine, open_only=True)
    assert set(incident.sends.values()) == {"sent"}


def test_a_failing_system_opens_an_incident_past_the_threshold_and_its_message_hides_secrets(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]
):
    inbox, port = smtp
    services = alert_services(
        tmp_path, clock, port, alerts_failing_minutes=15, mailchimp_api_key="key-secret-us1"
    )
    die(services, "push.mailchimp.member", "key-secret-us1 refused for ivan@example.com")
    clock.advance(10 * 60)
    evaluate(services)
    assert [s for s in inbox.subjects() if "Mailchimp" in s] == []  # 10 minutes: not yet
    clock.advance(6 * 60)
    evaluate(services)
    [mail] = [m for m in inbox.mails if "Mailchimp" in m["Subject"]]
    text = mail["Subject"] + mail.get_content()
    assert "failing for 16 min" in text and "Last error (push.mailchimp.member)" in text
    assert "key-secret-us1" not in text and "ivan@example.com" not in text


def test_refused_webhooks_are_counted_durably_and_a_burst_opens_an_incident(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]
):
    inbox, port = smtp
    services = alert_services(tmp_path, clock, port, alerts_refused_webhooks=20)
    counter = RefusalCounter(services.engine, clock, flush_seconds=60)
    for _ in range(19):
        counter.count("woocommerce")
    counter.close()  # writes what it counted
    evaluate(services)
    assert inbox.mails == []
    counter = RefusalCounter(services.engine, clock, flush_seconds=0.01)
    counter.count("woocommerce")
    counter.count("shop")
    counter.close()
    evaluate(services)
    assert inbox.subjects() == [
        "[connector] PROBLEM: 20 woocommerce webhook deliveries refused as unauthentic in the"
        " last 5 min (a changed secret, or probing)"
    ]


def test_the_test_command_sends_to_every_channel_and_status_lists_open_incidents(
    tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int], monkeypatch
):
    inbox, port = smtp
    services = alert_services(tmp_path, clock, port)
    lag(services, clock, minutes=30)
    evaluate(services)
    env = {
        "CONNECTOR_DATABASE_URL": services.settings.database_url,
        "CONNECTOR_ALERTS_EMAIL_TO": "ops@example.com",
        "CONNECTOR_ALERTS_SMTP_HOST": "127.0.0.1",
        "CONNECTOR_ALERTS_SMTP_PORT": str(port),
        "CONNECTOR_ALERTS_SMTP_SECURITY": "none",
        "CONNECTOR_ALERTS_WEBHOOK_URL": "http://127.0.0.1:9/nobody-listens",
        "CONNECTOR_ALERTS_TIMEOUT": "1",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    tested = runner.invoke(main, ["alerts", "test", "--env-file", str(tmp_path / "none.env")])
    assert tested.exit_code == 1  # the webhook could not be reached
    assert "email: sent" in tested.output
    assert "webhook: FAILED" in tested.output
    assert inbox.subjects()[-1] == "[connector] test alert"

    shown = runner.invoke(main, ["alerts", "status", "--json", "--env-file", "none.env"])
    assert shown.exit_code == 0, shown.output
    # stdout alone: the SMTP server's thread may still be logging the last session's end
    report = json.loads(shown.stdout)
    assert [i["rule"] for i in report["incidents"]] == ["queue_lag"]
    assert [c["name"] for c in report["channels"]] == ["email", "webhook"]
    assert "nobody-listens" not in shown.output  # a webhook's path may be its secret


def test_send_test_reports_each_channel(tmp_path: Path, clock: Clock, smtp: tuple[Inbox, int]):
    inbox, port = smtp
    services = alert_services(tmp_path, clock, port)
    assert send_test(services) == {"email": None}
    assert len(inbox.mails) == 1


def test_the_scheduler_evaluates_the_alerts_itself_and_enqueues_no_task(
    tmp_path: Path, clock: Clock
):
    [job] = [job for job in all_jobs() if job.name == "alerts-evaluate"]
    assert job.run == "connector.alerts.evaluate:evaluate_job"
    services = alert_services(tmp_path, clock)
    scheduler = build_scheduler(services)
    assert scheduler.get_job("alerts-evaluate") is not None
    from connector.scheduler import fire

    lag(services, clock, minutes=30)
    before = services.queue.stats().queued
    fire(services, job)
    assert services.queue.stats().queued == before  # nothing went through the queue
    assert [i.rule for i in incidents(services.engine, open_only=True)] == ["queue_lag"]


def test_a_forged_webhook_is_refused_and_counted_where_the_alerts_read_it(tmp_path: Path):
    from connector import observe
    from connector.app import create_app

    services = Services(make_settings(tmp_path, woocommerce_webhook_secret="wc-secret"))
    client = create_app(services).test_client()
    for _ in range(3):
        answered = client.post(
            "/webhooks/woocommerce",
            data=b'{"id": 1}',
            headers={"X-WC-Webhook-Signature": "forged", "X-WC-Webhook-Topic": "order.updated"},
        )
        assert answered.status_code == 401
    assert observe.refused_webhooks(services).by_source == {}  # not written by the request
    services.refusals.flush()  # what its timer does a few seconds later
    assert observe.refused_webhooks(services).by_source == {"woocommerce": 3}
    services.close()


def test_mail_goes_over_starttls_with_a_login(tmp_path: Path, clock: Clock, monkeypatch):
    import ssl
    import subprocess

    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.support import free_port

    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this server only
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server, session, envelope, mechanism, data) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"smtp-password")

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="localhost",
        port=port,
        tls_context=context,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
    )
    controller.start()
    try:
        services = alert_services(
            tmp_path,
            clock,
            alerts_email_to="ops@example.com",
            alerts_smtp_host="localhost",
            alerts_smtp_port=port,
            alerts_smtp_security="starttls",
            alerts_smtp_user="alerts",
            alerts_smtp_password="smtp-password",
            alerts_timeout=10,  # a TLS handshake on a loaded machine may take over 1 s
        )
        assert send_test(services) == {"email": None}
        assert inbox.subjects() == ["[connector] test alert"]
        assert logins == [(b"alerts", b"smtp-password")]

        wrong = alert_services(
            tmp_path,
            clock,
            alerts_email_to="ops@example.com",
            alerts_smtp_host="localhost",
            alerts_smtp_port=port,
            alerts_smtp_user="alerts",
            alerts_smtp_password="wrong-password",
        )
        [error] = send_test(wrong).values()  # refused (or cut off): never a crash
        assert error is not None and error.startswith("email via localhost")
        assert "wrong-password" not in error and len(inbox.mails) == 1
    finally:
        controller.stop()
