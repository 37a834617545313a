"""Status census of the hypothesis bundle properties: every example answered and counted, none stopping the run.

    CDS_AUTH=off .venv/bin/python benchmarks/fuzz_census.py 3400 2> /tmp/census-service.log

The properties of tests/e2e/test_fuzz_bundles.py stop at their first failure; this runs the same strategies,
derandomized, N examples each, and prints the answers by status. A 5xx's cause is the service's
"unhandled" log line (stderr). Numbers are recorded in docs/reliability.md.
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cpt64640_cds.protocol.services.order_select import SERVICE as ORDER_SELECT
from cpt64640_cds.protocol.services.order_sign import SERVICE as ORDER_SIGN
from cpt64640_cds.tools.cards import response_problems
from cpt64640_cds.tools.fuzz import mutated
from cpt64640_cds.web.app import create_app

SIGN, SELECT = ORDER_SIGN.id, ORDER_SELECT.id


def main() -> None:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    database = Path(tempfile.mkdtemp()) / "census.sqlite3"
    client = create_app({"database_url": f"sqlite:///{database}", "request_deadline_ms": 1500}).test_client()
    statuses: collections.Counter[tuple[str, int]] = collections.Counter()
    contract_failures = 0

    def answer(name: str, service_id: str, body: object) -> None:
        nonlocal contract_failures
        response = client.post(f"/cds-services/{service_id}", json=body)
        statuses[name, response.status_code] += 1
        if response.status_code == 200 and response_problems(response.get_json()):
            contract_failures += 1  # the card contract, or R4 validation of an action resource

    anywhere = st.sampled_from([SIGN, SELECT]).flatmap(lambda s: st.tuples(st.just(s), mutated(s)))
    properties = [
        ("order-sign bundles", st.tuples(st.just(SIGN), mutated(SIGN, anywhere=False, most=2))),
        ("order-select bundles", st.tuples(st.just(SELECT), mutated(SELECT, anywhere=False, most=2))),
        ("wrong types anywhere", anywhere),
    ]
    started = time.monotonic()
    for name, strategy in properties:
        labelled = strategy.map(lambda pair, name=name: (name, *pair))

        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(labelled)
        def run(case: tuple[str, str, object]) -> None:
            answer(*case)

        run()
    for (name, status), count in sorted(statuses.items()):
        print(f"{name}\t{status}\t{count}")
    server_errors = sum(count for (_, status), count in statuses.items() if status >= 500)
    print(f"examples\t{sum(statuses.values())}\n5xx\t{server_errors}\ncontract failures\t{contract_failures}")
    print(f"seconds\t{time.monotonic() - started:.0f}")


if __name__ == "__main__":
    main()
