"""The HealthChain comparison: a CDS Hooks service built with HealthChain (the Python CDS Hooks SDK) whose handler
only parses the prefetch into fhir.resources models, with HealthChain's own prefetch reader, and says how many
resources it parsed (the benchmark checks the count, so a handler that gave up early cannot look fast).

Runs in its own virtual environment (.venv-healthchain: HealthChain pins fhir.resources below the service's),
served as HealthChain apps are, FastAPI under gunicorn with uvicorn workers:

    .venv-healthchain/bin/gunicorn -k uvicorn.workers.UvicornWorker -w 2 --chdir benchmarks healthchain_app:app
"""

from __future__ import annotations

from fhir.resources.R4B.resource import Resource
from healthchain.fhir import convert_prefetch_to_fhir_objects
from healthchain.fhir.version import set_default_version
from healthchain.gateway import HealthChainAPI
from healthchain.gateway.cds import CDSHooksConfig, CDSHooksService
from healthchain.models.requests.cdsrequest import CDSRequest
from healthchain.models.responses.cdsresponse import CDSResponse

set_default_version("R4B")  # the EHR sends R4; the R5 default models reject it (the service reads R4B too)

app = HealthChainAPI(title="Benchmark: HealthChain prefetch parsing")
# The service's paths (/cds-services/<id>) rather than HealthChain's /cds prefix, so the benchmark posts alike.
cds = CDSHooksService(config=CDSHooksConfig(base_path="", discovery_path="/cds-services"))


def _parsed(value: object) -> int:
    """Resources parsed into models: a Bundle's entries, or the resource itself."""
    if not isinstance(value, Resource):
        return 0
    entries = getattr(value, "entry", None) if value.get_resource_type() == "Bundle" else None
    if entries is None:
        return 0 if value.get_resource_type() == "Bundle" else 1
    return sum(isinstance(e.resource, Resource) for e in entries)


@cds.hook("order-sign", id="cpt64640-order-sign", title="Parse the prefetch")
def order_sign(request: CDSRequest) -> CDSResponse:
    models = convert_prefetch_to_fhir_objects(request.prefetch or {})
    parsed = sum(_parsed(v) for v in models.values())
    card = {"summary": f"parsed {parsed} resources", "indicator": "info", "source": {"label": "benchmark"}}
    return CDSResponse(cards=[card])


app.register_service(cds)
