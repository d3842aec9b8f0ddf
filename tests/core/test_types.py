"""Types that reach across modules: a type checker sees every setting as a typed attribute."""

from __future__ import annotations

import re
import typing
from dataclasses import fields

import pytest

from connector.config import SETTINGS, Settings, system_setting_groups
from connector.errors import ConfigError
from connector.services import Services, built_once, system_client


def test_every_setting_is_a_typed_attribute_that_holds_its_default_and_what_it_parses():
    hints = typing.get_type_hints(Settings)
    assert [f.name for f in fields(Settings) if f.name != "groups"] == [s.name for s in SETTINGS]
    typed = [(setting, hints[setting.name]) for setting in SETTINGS]
    for group in system_setting_groups():  # each system's own, read as settings.of(group)
        group_hints = typing.get_type_hints(group)
        prefix = group.prefix + "_"
        typed += [(s, group_hints[s.name.removeprefix(prefix)]) for s in group.entries()]
    for setting, hint in typed:
        assert hint is not typing.Any, f"{setting.name} is typed Any"
        assert isinstance(setting.default, hint), f"{setting.name}: default is not {hint}"
        parsed = setting.parse("1" if setting.default is None else str(setting.default))
        assert isinstance(parsed, hint), f"{setting.name}: {setting.parse} gives no {hint}"


def test_a_mailchimp_flow_without_an_audience_is_told_which_setting_is_missing():
    assert Settings(mailchimp_list_id="a1b2").mailchimp_audience == "a1b2"
    with pytest.raises(ConfigError, match="CONNECTOR_MAILCHIMP_LIST_ID"):
        _ = Settings(mailchimp_api_key="key-us6").mailchimp_audience


def test_each_client_accessor_of_services_is_typed_as_the_client_its_system_builds():
    settings = Settings().replace(  # by flat name: a system's own settings included
        database_url="sqlite://",
        bitrix24_webhook_url="https://portal.example/rest/1/code/",
        mailchimp_api_key="key-us6",
        woocommerce_url="https://shop.example",
        woocommerce_key="ck_1",
        woocommerce_secret="cs_1",
        cdek_client_id="id",
        cdek_client_secret="secret",
        novaposhta_api_key="key",
        shop_callback_url="https://shop.example/callback",
        shop_webhook_secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    )
    services = Services(settings)
    accessors = [name for name, value in vars(Services).items() if isinstance(value, system_client)]
    assert len(accessors) >= 6
    try:
        for name in accessors:
            declared = re.fullmatch(r"system_client\[(\w+)\]", Services.__annotations__[name])
            assert declared, f"services.{name} is not typed"
            assert type(getattr(services, name)).__name__ == declared.group(1)
    finally:
        services.close()


def test_every_piece_services_build_once_declares_its_type():
    built = {name: value for name, value in vars(Services).items() if isinstance(value, built_once)}
    assert {"engine", "queue", "inbound", "registry", "mappings", "systems"} <= set(built)
    for name, piece in built.items():
        assert piece.func.__annotations__["return"] != "Any", f"services.{name} is typed Any"


def test_a_host_with_two_addresses_gets_the_request_deadline_on_both_of_its_sockets(monkeypatch):
    # `localhost` resolving to 127.0.0.1 and ::1 makes waitress listen twice (MultiSocketServer);
    # the deadline channel used to be set on the wrapper only, so neither socket had it.
    import waitress.server

    from connector.web_server import DeadlineChannel, listeners, waitress_server

    real = waitress.server.create_server

    def two_addresses(app, host, port, **options):
        return real(app, listen="127.0.0.1:0 127.0.0.2:0", **options)

    monkeypatch.setattr(waitress.server, "create_server", two_addresses)
    server = waitress_server(
        lambda environ, start_response: [],
        host="localhost",
        port=0,
        threads=1,
        read_timeout=1.0,
        connection_limit=10,
        max_body_bytes=1000,
    )
    try:
        sockets = listeners(server)
        assert len(sockets) == 2
        assert all(issubclass(each.channel_class, DeadlineChannel) for each in sockets)
    finally:
        server.close()
