"""Signing in and out through the pages, the login redirect, and /docs served offline."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import LiveServer, shot


def test_sign_in_with_the_form_lands_on_the_page_asked_for_and_sign_out_ends_the_session(
    browser: Any, live_server: LiveServer
) -> None:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/brands")
    assert "/login" in page.url
    shot(page, "login")
    page.get_by_label("Email").fill(live_server.admin_email)
    page.get_by_label("Password").fill("wrong password!")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "Wrong email or password."
    page.get_by_label("Password").fill(live_server.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/brands")
    assert "Acme Ltd" in page.locator("header").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.goto("/library")
    assert "/login" in page.url
    context.close()


def test_api_docs_load_with_no_request_leaving_the_server(admin_page: Any, live_server: LiveServer) -> None:
    outside: list[str] = []
    admin_page.on("request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url))
    admin_page.goto("/docs")
    admin_page.wait_for_selector(".swagger-ui .opblock", timeout=20_000)
    assert admin_page.locator(".opblock").count() > 10
    shot(admin_page, "docs")
    assert outside == []


def test_sign_in_and_search_the_library_with_the_keyboard_alone(browser: Any, live_server: LiveServer) -> None:
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.goto("/login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "impactlens home"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "email"
    page.keyboard.type(live_server.admin_email)
    page.keyboard.press("Tab")
    page.keyboard.type(live_server.password)
    page.keyboard.press("Enter")
    page.wait_for_url("**/library")
    page.focus("#f-q")
    page.keyboard.type("nothing-matches-this")
    page.keyboard.press("Enter")
    page.wait_for_url("**q=nothing-matches-this**")
    assert "No asset matches these filters" in page.locator("main").inner_text()
    context.close()
