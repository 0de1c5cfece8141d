"""Every failure the twilio package can raise becomes a ProviderError, in one place."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import requests
import twilio
from twilio.base.exceptions import TwilioException, TwilioRestException, TwilioServiceException

from talkbox.errors import ConfigError, ProviderError
from talkbox.model import EndReason
from talkbox.providers.twilio import NumberRoutes, provider_error, routes_from_env


def _all_subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _all_subclasses(sub)
    return found


def test_every_twilio_exception_class_is_mapped() -> None:
    for module in ("twilio.base", "twilio.http", "twilio.jwt", "twilio.twiml"):
        package = importlib.import_module(module)
        for info in pkgutil.walk_packages(package.__path__, f"{module}."):
            importlib.import_module(info.name)
    assert twilio.__name__ == "twilio"
    classes = {TwilioException} | _all_subclasses(TwilioException)
    assert {TwilioRestException, TwilioServiceException} <= classes
    for cls in classes:
        if cls is TwilioRestException:
            exc: Exception = TwilioRestException(400, "/x", "bad", 21211)
        elif cls is TwilioServiceException:
            exc = TwilioServiceException("about:blank", "Too Many", 429, 20429, "slow down")
        else:
            exc = cls("boom")
        error = provider_error(exc)
        assert isinstance(error, ProviderError), cls
        assert error.provider == "twilio"


def test_rest_exception_fields() -> None:
    error = provider_error(TwilioRestException(400, "/Calls.json", "bad number", 21211, "POST"))
    assert error is not None
    assert (error.status, error.code, error.message, error.reason, error.retryable) == (
        400,
        21211,
        "bad number",
        EndReason.INVALID_NUMBER,
        False,
    )


def test_service_exception_fields() -> None:
    error = provider_error(TwilioServiceException("about:blank", "Too Many", 429, 20429, "slow"))
    assert error is not None
    assert (error.status, error.code, error.message, error.retryable) == (429, 20429, "slow", True)


@pytest.mark.parametrize(
    ("exc", "retryable"),
    [
        (requests.ConnectTimeout("x"), True),
        (requests.ReadTimeout("x"), False),
        (requests.ConnectionError("x"), True),
        (requests.TooManyRedirects("x"), False),
    ],
)
def test_requests_failures(exc: Exception, retryable: bool) -> None:
    error = provider_error(exc)
    assert error is not None
    assert error.retryable is retryable
    assert error.status is None


def test_bugs_of_ours_are_not_disguised() -> None:
    assert provider_error(KeyError("x")) is None


def test_number_routes() -> None:
    routes = NumberRoutes.parse("+1 415 555 0100=alice, bob;\n+442071838750 = carol ;")
    assert dict(routes) == {"+14155550100": ("alice", "bob"), "+442071838750": ("carol",)}
    assert routes_from_env({}) == NumberRoutes()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("+14155550100", "should look like"),
        ("+14155550100=", "routes to nobody"),
        ("+14155550100=al ice", "letters, digits and underscore"),
        ("12=alice", "TWILIO_NUMBER_ROUTES"),
    ],
)
def test_bad_routes_name_the_variable(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        NumberRoutes.parse(text)
