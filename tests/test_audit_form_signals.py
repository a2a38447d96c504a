"""The scan's quick test for form mail agrees with the full form tests it guards."""

from __future__ import annotations

import pytest

from deskmove.audit import signals as sig

OURS, DOMAINS = {"podpora@shop.cz"}, {"shop.cz"}
BODY = "Jméno: Jana\nE-mail: jana@seznam.cz\nZpráva: Dobrý den"
CASES = [
    ({}, "jana@seznam.cz", False),
    ({"x-mailer": ["Microsoft Outlook 16.0"]}, "jana@seznam.cz", False),
    ({}, "noreply@shop.cz", True),
    ({"x-php-originating-script": ["33:kontakt.php"]}, "web@shop.cz", True),
    ({"x-mailer": ["PHPMailer 6.8"], "reply-to": ["jana@seznam.cz"]}, "jana@seznam.cz", True),
    ({"x-mailer": ["WordPress/6.4"]}, "info@shop.cz", True),
]


@pytest.mark.parametrize(("headers", "sender", "maybe"), CASES, ids=range(len(CASES)))
def test_maybe_form_is_true_whenever_a_form_test_could_say_yes(headers, sender, maybe):
    assert sig.maybe_form(headers, sender) is maybe
    full = bool(sig.form_customer(headers, sender, BODY, OURS, DOMAINS)) or sig.form_by_customer(
        headers, sender
    )
    assert not full or maybe  # the quick test never rules out a form the full tests find
