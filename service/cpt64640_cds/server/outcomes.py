"""What the HTTP servers say on their own (nginx in front, gunicorn behind it): one OperationOutcome issue per
kind of broken request, in our words. Neither ever quotes what the client sent."""

from __future__ import annotations

import json

from ..errors import Issue, operation_outcome

REQUEST_LINE = Issue("structure", "(request line): not a valid HTTP/1.1 request line")
REQUEST_LINE_TOO_LONG = Issue("too-long", "(request line): longer than the server accepts (8 KB)")
HEADERS = Issue("structure", "(headers): a header field is not valid HTTP")
HEADERS_TOO_LARGE = Issue("too-long", "(headers): more or larger header fields than the server accepts (8 KB each)")
SCHEME_HEADERS = Issue("structure", "(headers): contradictory X-Forwarded-Proto values")
EXPECT = Issue("not-supported", "(headers): Expect: only 100-continue is supported")
TRANSFER_CODING = Issue("not-supported", "(headers): Transfer-Encoding: only chunked is supported")
LENGTH_REQUIRED = Issue("required", "(headers): a request body needs Content-Length or chunked Transfer-Encoding")
BODY_FRAMING = Issue("structure", "(body): the chunked encoding is not valid")
NOT_FOUND = Issue("not-found", "(request): no such path; see /cds-services")
REQUEST = Issue("structure", "(request): not a valid HTTP/1.1 request")
TIMEOUT = Issue("timeout", "(request): not received in time; send the whole request without pauses")
INTERNAL = Issue("exception", "internal error; the service log has the details")
UNAVAILABLE = Issue("transient", "the service is not available; retry shortly")
NO_ANSWER = Issue("timeout", "the service did not answer in time")

# Headers named in an issue when gunicorn rejects one of them; any other name is the client's text.
KNOWN_HEADERS = {
    name.upper(): name
    for name in ("Content-Length", "Transfer-Encoding", "Host", "Expect", "Content-Type", "Authorization", "Origin")
}


def body_too_large(max_body_bytes: int) -> Issue:
    """The app's own words for a 413 (web/http.py), so the answer is the same whoever sends it."""
    return Issue("too-long", f"(body): larger than the limit of {max_body_bytes} bytes (CDS_MAX_BODY_BYTES)")


def invalid_header(name: str) -> Issue:
    known = KNOWN_HEADERS.get(name.upper())
    return Issue("structure", f"(headers): {known} is not valid") if known else HEADERS


def body(issue: Issue) -> bytes:
    return json.dumps(operation_outcome([issue]), separators=(",", ":")).encode("ascii")
