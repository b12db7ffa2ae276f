"""The signature check gives twilio's RequestValidator.validate answer for any form, URL and
signature (it tries the URL as configured first, and computes the other only if needed)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from sms.signature import _MultiValued, is_signed_by_twilio, sign

TOKEN = "test-auth-token"
URLS = [
    "http://127.0.0.1:8000/sms/twilio/inbound",
    "https://sms.example.com/sms/twilio/inbound",
    "https://sms.example.com:443/sms/twilio/inbound",
    "https://sms.example.com/sms/twilio/inbound?site=bj",
    "http://example.com:80/sms/twilio/inbound",
    "http://[::1]:8000/sms/twilio/inbound",
]
forms = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.lists(st.text(max_size=20), min_size=1, max_size=3),
    max_size=6,
)


def validate(token: str, url: str, params: dict[str, list[str]], signature: str | None) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(token).validate(url, _MultiValued(params), signature))


@given(
    url=st.sampled_from(URLS),
    signed_url=st.sampled_from(URLS),
    params=forms,
    token=st.sampled_from([TOKEN, "another-token"]),
)
def test_a_signature_over_any_url_is_judged_as_twilio_judges_it(
    url: str, signed_url: str, params: dict[str, list[str]], token: str
) -> None:
    signature = sign(token=token, url=signed_url, params=params)
    expected = validate(TOKEN, url, params, signature)
    assert is_signed_by_twilio(token=TOKEN, url=url, params=params, signature=signature) is expected


@given(url=st.sampled_from(URLS), params=forms, signature=st.one_of(st.none(), st.text()))
def test_any_signature_at_all_is_judged_as_twilio_judges_it(
    url: str, params: dict[str, list[str]], signature: str | None
) -> None:
    expected = validate(TOKEN, url, params, signature)
    assert is_signed_by_twilio(token=TOKEN, url=url, params=params, signature=signature) is expected


def test_twilio_signs_with_or_without_the_default_port() -> None:
    form = {"MessageSid": ["SM1"], "Body": ["BILL"]}
    plain, with_port = URLS[1], URLS[2]
    for signed in (plain, with_port):
        signature = sign(token=TOKEN, url=signed, params=form)
        for checked in (plain, with_port):
            assert is_signed_by_twilio(token=TOKEN, url=checked, params=form, signature=signature)
    forged = sign(token="not-the-token", url=plain, params=form)
    assert not is_signed_by_twilio(token=TOKEN, url=plain, params=form, signature=forged)
