"""The HTTP endpoints (FastAPI over uvicorn):

    GET  /health                  no token: 200 and the run answered from (503 before one)
    POST /fhir/Patient/$match     a FHIR Parameters body -> a searchset Bundle
    GET  /eid/{enterprise_id}     an EID (a retired one resolved to its successor) as a Patient

Every request but /health needs `Authorization: Bearer <token>` (401 otherwise). A consumer
sees only records of its sources: they alone are search candidates and identifiers, and an
EID with none of them is answered as not found. Every request is recorded in the access log
(consumer, endpoint, status, count, latency), never with a value from it.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from linkage.config import RunConfig
from linkage.errors import LinkageError, StoreError
from linkage.serve import fhir, reads
from linkage.serve.access_log import AccessLog, access_log_path
from linkage.serve.committed import CommittedStore
from linkage.serve.consumers import Consumer, authenticate, load_consumers

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"
MAX_BODY_BYTES = 64 * 1024
MATCH = "/fhir/Patient/$match"
EID = "/eid/{enterprise_id}"


def _fhir(status: int, content: dict[str, Any]) -> JSONResponse:
    return JSONResponse(content, status_code=status, media_type=FHIR_JSON)


def create_app(config: RunConfig, committed: CommittedStore, consumers: list[Consumer],
               access: AccessLog) -> FastAPI:
    """The service over an opened committed store; the caller starts and closes both."""
    app = FastAPI(title="linkage person search", docs_url=None, redoc_url=None,
                  openapi_url=None)
    certain, probable = config.linking.review_high, config.linking.review_low

    def answer(request: Request, endpoint: str, handle) -> JSONResponse:
        """Authenticate, run `handle(consumer)` (it borrows a searcher), log the access."""
        started = time.perf_counter()
        consumer = authenticate(consumers, request.headers.get("authorization"))
        results = 0
        if consumer is None:
            response = _fhir(401, fhir.outcome("login", "a valid bearer token is required"))
            response.headers["WWW-Authenticate"] = "Bearer"
        else:
            try:
                response, results = handle(consumer)
            except fhir.FhirError as error:
                response = _fhir(400, fhir.outcome("invalid", str(error)))
            except StoreError as error:  # ours, not the query's: said without values
                log.error("serve: %s failed: %s", endpoint, error)
                response = _fhir(500, fhir.outcome("exception", "the store could not answer"))
            except LinkageError as error:  # the query's problem, said without its values
                response = _fhir(400, fhir.outcome("invalid", str(error)))
            except Exception as error:  # a bug: its class only (a message may hold a value)
                log.error("serve: %s failed: internal error (%s)", endpoint,
                          error.__class__.__name__)
                response = _fhir(500, fhir.outcome("exception", "internal error"))
        access.record(consumer.name if consumer else None, endpoint, response.status_code,
                      results, time.perf_counter() - started)
        return response

    @app.get("/health")
    def health() -> JSONResponse:
        state = committed.state
        if state is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "ok", "run_id": state.run_id})

    @app.post(MATCH)
    async def match(request: Request) -> JSONResponse:
        body = await _capped_body(request)

        def handle(consumer: Consumer) -> tuple[JSONResponse, int]:
            if body is None:
                raise fhir.FhirError(f"body larger than {MAX_BODY_BYTES} bytes")
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                raise fhir.FhirError("body is not JSON") from None
            wanted = fhir.parse_match(document)
            if not wanted.fields:
                raise fhir.FhirError("the Patient gives nothing to search by: a name with a "
                                     "birthDate, or an identifier, phone or e-mail")
            with committed.borrow() as searcher:
                found = searcher.search(**wanted.fields, limit=wanted.count,
                                        sources=consumer.sources)
                members = reads.members(searcher.store, list(found.enterprise_id),
                                        consumer.sources)
            entries = []
            for enterprise_id, probability in zip(found.enterprise_id, found.match_probability,
                                                  strict=True):
                grade = fhir.grade(float(probability), certain, probable)
                if enterprise_id in members and (grade == "certain" or not wanted.only_certain):
                    entries.append((enterprise_id, members[enterprise_id], float(probability),
                                    grade))
            return _fhir(200, fhir.searchset(entries)), len(entries)

        return await _in_thread(answer, request, MATCH, handle)

    @app.get(EID)
    def enterprise_id(request: Request, enterprise_id: str) -> JSONResponse:
        def handle(consumer: Consumer) -> tuple[JSONResponse, int]:
            with committed.borrow() as searcher:
                store = searcher.store
                resolved = reads.resolve(store, enterprise_id)
                members = ({} if resolved is None or not resolved[1] else
                           reads.members(store, [resolved[0]], consumer.sources))
            if resolved is None or resolved[0] not in members:
                # Unknown, deactivated and not visible to this consumer look the same.
                return _fhir(404, fhir.outcome("not-found", "no such enterprise ID")), 0
            resource = fhir.patient(resolved[0], members[resolved[0]])
            if resolved[0] != enterprise_id:
                resource["link"] = [{"type": "replaces",
                                     "other": {"reference": f"Patient/{enterprise_id}"}}]
            return _fhir(200, resource), 1

        return answer(request, EID, handle)

    return app


class _Stopped(Exception):
    """SIGTERM after uvicorn's graceful shutdown."""


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _check_port(host: str, port: int) -> None:
    """A port already taken is one clear line, before the store is copied."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise LinkageError(f"serve: cannot resolve host {host!r}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise LinkageError(f"serve: cannot listen on {host}:{port} "
                               f"({error.strerror or error.__class__.__name__})") from None


async def _capped_body(request: Request) -> bytes | None:
    """The request's body, or None as soon as it is known to pass MAX_BODY_BYTES: by its
    declared length, or while it streams in. A client, with a token or without, cannot make
    the service hold more than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return None
    return bytes(body)


async def _in_thread(function, *args):
    """Run blocking work off the event loop (as FastAPI does for plain `def` routes)."""
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(function, *args)


def serve(config: RunConfig, *, host: str = "127.0.0.1", port: int = 8000,
          refresh_seconds: float = 1.0, workers: int = 2) -> None:
    """Answer on host:port until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    consumers = load_consumers(config)
    _check_port(host, port)
    committed = CommittedStore(Path(config.store), Path(config.model),
                               refresh_seconds=refresh_seconds, workers=workers)
    access = None
    try:
        access = AccessLog(access_log_path(config.store))
        print("serve: opening the store's committed state", file=sys.stderr, flush=True)
        committed.start()
        state = committed.state
        if state is None:  # interrupted while waiting for a run
            return
        server = uvicorn.Server(uvicorn.Config(
            create_app(config, committed, consumers, access), host=host, port=port,
            log_level="warning", access_log=False, lifespan="off"))
        print(f"serve: answering from run {state.run_id} on http://{host}:{port} "
              f"({len(consumers)} consumers)", file=sys.stderr, flush=True)
        # uvicorn stops gracefully on SIGTERM, then raises it again: handled here as a
        # normal stop, so the store copy is removed and the access log flushed.
        previous = signal.signal(signal.SIGTERM, _stopped)
        try:
            server.run()
        except _Stopped:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        committed.close()
        if access is not None:
            access.close()
