"""Property-based fuzzing of the gateway's own OpenAPI schema (schemathesis) against the running gateway.

Runs first in tests/abuse (file order), on the same stack: a bounded number of generated requests per
operation, as an admin (every route reachable; no training worker runs here, so queued training jobs
only wait) and as a client key. Every answer must be non-5xx and match the schema it claims to follow.
(Hypothesis drives schemathesis's strategies directly: its pytest plugin does not run on pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from conftest import Abuse
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

pytestmark = [pytest.mark.abuse, pytest.mark.slow]

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
EXAMPLES = 20  # per operation and identity: about 500 requests in all


@pytest.mark.parametrize("who", ["admin", "alice"])
def test_gateway_openapi_fuzz(abuse: Abuse, who: str) -> None:
    headers = abuse.admin if who == "admin" else abuse.alice
    schema = schemathesis.openapi.from_url(f"{abuse.stack.gateway_url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12, [op.label for op in operations]
    failures, calls = [], []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def fuzz(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=headers, checks=CHECKS)
            calls.append((case.operation.label, response.status_code))

        try:
            fuzz()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    statuses = sorted({status for _, status in calls})
    print(f"\nfuzzed {len(calls)} requests over {len(operations)} operations as {who}; statuses {statuses}")
    assert len(calls) >= 5 * len(operations) and max(statuses) < 500
