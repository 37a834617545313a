"""protocol.prefetch.allowlist: where the client's token may go, compared as the URL is sent, with every form
refused that could leave the allowlisted path prefix once normalised or decoded (issue 12)."""

from __future__ import annotations

import pytest

from cpt64640_cds.config import Settings
from cpt64640_cds.protocol.prefetch.allowlist import FhirAllowlist, place
from cpt64640_cds.protocol.prefetch.client import FhirClient
from cpt64640_cds.protocol.prefetch.deadline import Deadline

PREFIX = "https://ehr.example.org/fhir/r4"
ALLOWLIST = FhirAllowlist((PREFIX, "https://other.example.org:8443"))

FHIR_SERVERS = [
    # accepted: the prefix itself, below it, default port written out, case of scheme and host
    (PREFIX, True),
    (PREFIX + "/", True),
    (PREFIX + "/tenant-1", True),
    (PREFIX + "/tenant_1.a~b", True),
    ("https://ehr.example.org:443/fhir/r4", True),
    ("HTTPS://EHR.Example.ORG/fhir/r4", True),
    ("https://other.example.org:8443", True),
    ("https://other.example.org:8443/any/path", True),
    # refused: outside the prefix, on a segment boundary
    ("https://ehr.example.org/fhir/r4x", False),
    ("https://ehr.example.org/fhir", False),
    ("https://ehr.example.org/FHIR/r4", False),
    ("https://other.example.org", False),
    ("http://ehr.example.org/fhir/r4", False),
    # refused: dot segments, raw or encoded in any case and depth
    (PREFIX + "/..", False),
    (PREFIX + "/../admin", False),
    (PREFIX + "/a/../../admin", False),
    (PREFIX + "/./", False),
    (PREFIX + "/.", False),
    (PREFIX + "/...", False),
    (PREFIX + "/%2e%2e/admin", False),
    (PREFIX + "/%2E%2E/admin", False),
    (PREFIX + "/.%2e/admin", False),
    (PREFIX + "/%252e%252e/admin", False),
    # refused: encoded slashes and backslashes, raw backslashes, any percent-encoding
    (PREFIX + "/..%2fadmin", False),
    (PREFIX + "/%2Fadmin", False),
    (PREFIX + "/..%5cadmin", False),
    (PREFIX + "/..\\admin", False),
    (PREFIX + "\\..\\admin", False),
    (PREFIX + "/t%41nant", False),
    # refused: path parameters, query, fragment
    (PREFIX + "/..;/admin", False),
    (PREFIX + ";jsessionid=1", False),
    (PREFIX + "/%3b/admin", False),
    (PREFIX + "?/../admin", False),
    (PREFIX + "?", False),
    (PREFIX + "#/../admin", False),
    (PREFIX + "/%3f", False),
    (PREFIX + "/%23", False),
    # refused: empty segments, user info, whitespace and control characters, other schemes, broken ports
    (PREFIX + "//admin", False),
    ("https://ehr.example.org//fhir/r4", False),
    ("https://user:pass@ehr.example.org/fhir/r4", False),
    ("https://ehr.example.org@evil.example/fhir/r4", False),
    (PREFIX + "/\tadmin", False),
    (PREFIX + "/a b", False),
    (PREFIX + "/é", False),
    ("ftp://ehr.example.org/fhir/r4", False),
    ("https://ehr.example.org:notaport/fhir/r4", False),
    ("https://[::1/fhir/r4", False),
    ("", False),
]


@pytest.mark.parametrize(("url", "allowed"), FHIR_SERVERS)
def test_fhir_server_forms(url, allowed):
    assert ALLOWLIST.allows(url) is allowed


@pytest.mark.parametrize(("url", "allowed"), FHIR_SERVERS)
def test_issuer_bound_servers_use_the_same_check(url, allowed):
    everything = FhirAllowlist(("https://ehr.example.org", "https://other.example.org:8443"))
    assert everything.allows(url, bound_to=(PREFIX, "https://other.example.org:8443")) is allowed


NEXT_LINKS = [
    # followed: the base and below, with any query
    (PREFIX + "?_getpages=abc&_getpagesoffset=20", True),
    (PREFIX + "/Condition?patient=p1&_offset=50", True),
    (PREFIX + "/Condition/_search?page=2", True),
    (PREFIX + "/Condition?patient=p1&note=..%2F..%2Fadmin", True),  # a query is the server's business
    (PREFIX + "/Condition?x=a;b", True),
    ("https://EHR.example.org:443/fhir/r4/Condition?page=2", True),
    # not followed
    (PREFIX + "/../Condition?page=2", False),
    (PREFIX + "/%2e%2e/Condition?page=2", False),
    (PREFIX + "/Condition/..?page=2", False),
    (PREFIX + "/Condition;x=1?page=2", False),
    (PREFIX + "/Condition#/../../admin", False),
    (PREFIX + "/Condition?page=2#frag", False),
    (PREFIX + "//Condition?page=2", False),
    ("https://ehr.example.org/fhir/Condition?page=2", False),
    ("https://ehr.example.org/fhir/r4x/Condition?page=2", False),
    ("https://evil.example/fhir/r4/Condition?page=2", False),
    ("http://ehr.example.org/fhir/r4/Condition?page=2", False),
    ("/fhir/r4/Condition?page=2", False),
]


@pytest.mark.parametrize(("url", "followed"), NEXT_LINKS)
def test_next_link_forms(url, followed):
    client = FhirClient(PREFIX, None, Settings(), Deadline.after_ms(1000))
    try:
        assert client.same_server(url) is followed
    finally:
        client.close()


def test_the_compared_form_is_the_one_sent():
    # requests re-quotes and removes dot segments; a URL is accepted only when both forms agree.
    assert place(PREFIX + "/Condition") == place("https://ehr.example.org:443/fhir/r4/Condition/")
    assert place(PREFIX + "/a/../b") is None  # urllib3 would send /fhir/r4/b: refused, not normalised
    assert place(PREFIX + "/Condition?patient=p1", query=True) is not None
    assert place(PREFIX + "/Condition?patient=p1") is None  # a base URL has no query


def test_a_prefix_that_is_itself_malformed_matches_nothing():
    broken = FhirAllowlist(("https://ehr.example.org/fhir/../r4", "https://ehr.example.org/a%2fb"))
    assert not broken.allows("https://ehr.example.org/r4")
    assert not broken.allows("https://ehr.example.org/a%2fb")


def test_loopback_in_development_only_for_plain_loopback_urls():
    development = FhirAllowlist((), loopback=True)
    assert development.allows("http://127.0.0.1:8080/fhir")
    assert development.allows("http://localhost:8080")
    assert development.allows("http://[::1]:8080/fhir")
    assert not development.allows("http://127.0.0.1:8080/fhir/../admin")
    assert not development.allows("http://10.0.0.1/fhir")
