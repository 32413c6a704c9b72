"""Person search as a service: `linkage serve`, FHIR `Patient/$match` over HTTP.

    app.py        the HTTP endpoints (FastAPI): /health, /fhir/Patient/$match, /eid/{eid}
    fhir.py       FHIR R4 Parameters in, Bundle / Patient / OperationOutcome out
    consumers.py  bearer tokens and the sources each consumer may see
    committed.py  the committed store state the service answers from, renewed after a run
    reads.py      the few store reads the service makes
    access_log.py who asked what kind of question, when, and how many answers (no values)

FastAPI and uvicorn are the `serve` extra: `pip install 'linkage[serve]'`.
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def __getattr__(name: str):
    # The web stack loads only when the service is used (`linkage --help` stays fast).
    if name in __all__:
        from linkage.serve import app

        return getattr(app, name)
    raise AttributeError(name)
