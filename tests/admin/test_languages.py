"""Russian and English: every text of the console exists in both, and the switch works."""

from __future__ import annotations

from tests.admin.conftest import ConsoleApp, csrf


def test_every_text_exists_in_both_languages(console_app: ConsoleApp) -> None:
    texts = console_app.app.extensions["connector_admin"]["texts"]
    assert set(texts["en"]) - set(texts["ru"]) == set()
    assert set(texts["ru"]) - set(texts["en"]) == set()


def test_switching_to_russian_keeps_the_page_and_its_cyrillic(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    page = viewer.get("/admin/dead-letters/?kind=x")
    answer = viewer.post(
        "/admin/language/ru",
        data={"csrf_token": csrf(page.text), "next": "/admin/dead-letters/?kind=x"},
    )
    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/dead-letters/?kind=x"
    russian = viewer.get(answer.headers["Location"]).text
    assert '<html lang="ru">' in russian and "Мёртвые письма" in russian


def test_the_language_switch_never_sends_anyone_to_another_site(console_app: ConsoleApp) -> None:
    viewer = console_app.client("viewer")
    token = csrf(viewer.get("/admin/overview/").text)
    for target in ("https://evil.example/", "//evil.example/admin", "/\\evil.example"):
        answer = viewer.post("/admin/language/en", data={"csrf_token": token, "next": target})
        assert answer.headers["Location"] == "/admin/overview/"
