"""The web layer: the Flask app factory, routes, CORS, errors as OperationOutcome, OpenAPI, metrics."""
