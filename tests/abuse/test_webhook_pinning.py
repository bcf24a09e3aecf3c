"""Issue 10.5, DNS rebinding: the address that was checked is the address connected to."""

from __future__ import annotations

import socket

import pytest

from impactlens.net.safe_http import UnsafeURLError, post
from tests.abuse.hooks import receiver


def test_delivery_connects_to_the_checked_address_without_resolving_again() -> None:
    answers: list[str] = []

    def rebinding_resolver(host: str, port: int) -> list[str]:
        # First answer: loopback (allowed here); any later lookup would get a different host.
        answers.append(host)
        if len(answers) > 1:
            raise socket.gaierror("a second lookup would have been rebound")
        return ["127.0.0.1"]

    with receiver() as rec:
        url = rec.url.replace("127.0.0.1", "hooks.rebind.invalid")
        headers = {"Content-Type": "application/json"}
        status = post(url, b"{}", headers, 5.0, allow_private=True, resolve=rebinding_resolver)
    assert status == 204 and answers == ["hooks.rebind.invalid"]
    assert rec.calls and rec.calls[0][2]["Host"].startswith("hooks.rebind.invalid")


def test_a_name_that_resolves_to_a_private_address_is_refused_before_connecting() -> None:
    def metadata(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "169.254.169.254"]  # one bad answer is enough to refuse

    with pytest.raises(UnsafeURLError, match="169.254.169.254"):
        post("http://hooks.example.invalid/", b"{}", {}, 5.0, allow_private=False, resolve=metadata)
