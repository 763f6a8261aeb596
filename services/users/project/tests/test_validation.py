"""The email check refuses exactly what email-validator refuses, in its words."""

import itertools
import unittest

from email_validator import EmailNotValidError, validate_email

from project.api.validation import check_email_shape, domain_problem
from project.errors import APIError

LOCAL_PARTS = [
    "a", "michael", "first.last", "x_y", "a+tag", "-dash", "end-", "a..b", ".lead",
    "trail.", "", "UPPER", "1234", "é", "用户", '"quoted"', '"a b"', "a b", "a!b", "o'brien",
    "postmaster", "x" * 64, "x" * 65, "tab\there", "a\\b",
]
DOMAINS = [
    "mherman.org", "bench.mherman.org", "sub.domain.example.com", "localhost", "example",
    "a.b", "xn--bcher-kva.example", "bücher.example", "例え.テスト", "-lead.com",
    "trail-.com", "a..com", ".com", "com.", "UPPER.ORG", "under_score.com", "123.com",
    "1.2.3.4", "[127.0.0.1]", "[IPv6:::1]", "test", "invalid.test", "x.local",
    "mail.invalid", "a" * 64 + ".com", "a" * 63 + ".com", "ex ample.com", "", "ÄÖÜ.de",
    "xn--.com", "ab--cd.com", "example.com>", "ｅｘａｍｐｌｅ.com", "exa\u200bmple.com",
]
ODD_ADDRESSES = [
    "", "@", "no-at-sign", "two@@mherman.org", "a@b@mherman.org", "Name <a@mherman.org>",
    "a@mherman.org ", " a@mherman.org", "a@", "@mherman.org", "a@[300.1.1.1]",
    "a" * 60 + "@" + "b" * 60 + ".org",
]


def library_verdict(email):
    """What email-validator itself says of `email`, worded as the API words it."""
    try:
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        return f"email is not a valid address: {error}"
    return None


def our_verdict(email):
    try:
        check_email_shape(email)
    except APIError as error:
        return error.detail
    return None


class TestEmailCheck(unittest.TestCase):

    def test_same_verdicts_and_reasons_as_email_validator(self):
        """Ensure every address gets email-validator's own verdict and reason, twice over."""
        domain_problem.cache_clear()
        addresses = [f"{local}@{domain}"
                     for local, domain in itertools.product(LOCAL_PARTS, DOMAINS)]
        addresses += ODD_ADDRESSES
        accepted = 0
        for _ in range(2):
            for email in addresses:
                with self.subTest(email=email):
                    expected = library_verdict(email)
                    self.assertEqual(our_verdict(email), expected)
                    accepted += expected is None
        self.assertGreater(accepted, 100)
        self.assertLess(accepted, len(addresses) * 2 - 100)

    def test_a_domain_is_checked_once(self):
        """Ensure plain addresses on one domain are checked against it once."""
        domain_problem.cache_clear()
        for number in range(50):
            check_email_shape(f"user{number}@once.mherman.org")
        self.assertEqual(domain_problem.cache_info().misses, 1)


if __name__ == "__main__":
    unittest.main()
