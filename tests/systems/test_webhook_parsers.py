"""Mailchimp and CDEK webhook deliveries, from the saved example bodies."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from connector.errors import PermanentError
from connector.systems.cdek import parse_status_webhook
from connector.systems.mailchimp.webhooks import parse_webhook, secret_matches, verify_signature


def test_every_saved_mailchimp_delivery_parses_like_its_decoded_twin(spec):
    event = parse_webhook(spec("mailchimp/webhooks/subscribe.form.txt"))
    twin = spec("mailchimp/webhooks/subscribe.parsed.json")
    assert (event.type, event.fired_at) == (twin["type"], twin["fired_at"])
    # the two saved samples come from different pages and spell the company name differently
    lower = {**event.data, "merges": {k: v.lower() for k, v in event.data["merges"].items()}}
    expected = {**twin["data"], "merges": {k: v.lower() for k, v in twin["data"]["merges"].items()}}
    assert lower == expected
    assert event.email == "api@mailchimp.com"
    assert event.dedupe_key == "subscribe:8a25ff1d98:2009-03-26 21:35:57"
    for kind in ("unsubscribe", "profile", "upemail", "cleaned", "campaign"):
        assert parse_webhook(spec(f"mailchimp/webhooks/{kind}.form.txt")).type == kind
    assert parse_webhook(spec("mailchimp/webhooks/upemail.form.txt")).data["new_email"]


def test_unknown_mailchimp_delivery_is_refused():
    with pytest.raises(PermanentError):
        parse_webhook("type=batch_operation_completed&data[id]=1")


def test_mailchimp_signature_and_url_secret():
    body = b"type=profile&data[id]=1"
    stamp = "1700000000"
    digest = hmac.new(b"whsec", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    header = f"t={stamp},v1={digest}"
    assert verify_signature(body, header, "whsec", now=lambda: 1700000100)
    assert not verify_signature(body + b"x", header, "whsec", now=lambda: 1700000100)
    assert not verify_signature(body, header, "whsec", now=lambda: 1700001000)  # too old
    assert not verify_signature(body, None, "whsec")
    assert secret_matches("s3cret", "s3cret") and not secret_matches("guess", "s3cret")
    assert not secret_matches("", None)


def test_cdek_status_delivery(spec):
    event = parse_status_webhook(json.dumps(spec("delivery/cdek/webhook.ORDER_STATUS.json")))
    assert (event.code, event.cdek_number, event.is_return) == ("DELIVERED", "1106153417", False)
    assert event.order_uuid == "72753031-8347-40c0-ab0f-1a49c7a262c1"
    with pytest.raises(PermanentError):
        parse_status_webhook(json.dumps(spec("delivery/cdek/webhook.PRINT_FORM.json")))
