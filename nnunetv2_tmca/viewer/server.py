"""The viewer's web app (Starlette), safe by default.

- Every request must present the session's random token: ``?token=`` (the printed URL) or the
  ``X-Viewer-Token`` header (what the page sends); otherwise 403. Compared in constant time.
- Only fixed routes: the page, two static files by name, and ``/api/...`` whose case ids must be cases of the
  images folder; no route takes a file path, so nothing outside the given folders can be served.
- Request bodies are bounded (``max_body`` bytes, 413 above); reports are bounded in ``session``.
- The access log is off (URLs carry the token); the app logs method, route and status, never bodies.
- ``cli`` binds it to 127.0.0.1 only.
"""
from __future__ import annotations

import json
import logging
import os
import secrets

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from nnunetv2_tmca.viewer.session import CaseNotFound, ViewerSession

log = logging.getLogger("nnunetv2_tmca.viewer")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
STATIC_FILES = {"viewer.js": "text/javascript", "viewer.css": "text/css"}
MAX_BODY = 256 * 1024
TOKEN_HEADER = "x-viewer-token"


class Guard:
    """ASGI middleware: token on every request, bounded bodies, one log line per request without query or body."""

    def __init__(self, app, token: str, max_body: int = MAX_BODY):
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            log.info("%s %s 403 (no valid token)", scope["method"], scope["path"])
            denied = Response("a valid token is required: open the URL the viewer printed", 403)
            return await denied(scope, receive, send)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            log.info("%s %s 413", scope["method"], scope["path"])
            return await Response(f"request body over {self.max_body} bytes", 413)(scope, receive, send)
        received = 0

        async def bounded_receive():
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_body:
                raise ValueError("request body too large")
            return message

        status = {}

        async def logged_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        await self.app(scope, bounded_receive, logged_send)
        log.info("%s %s %s", scope["method"], scope["path"], status.get("code"))


def create_app(session: ViewerSession, token: str, save_folder: str, max_body: int = MAX_BODY):
    """The Starlette app of one viewer session, wrapped in :class:`Guard`."""

    def failure(error: Exception) -> JSONResponse:
        if isinstance(error, CaseNotFound):
            return JSONResponse({"error": "unknown case"}, 404)
        return JSONResponse({"error": str(error)}, 400)

    async def body(request: Request) -> dict:
        try:
            data = json.loads(await request.body() or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ValueError("the request body is not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("case"), str):
            raise ValueError("the request needs a 'case'")
        if data.get("report") is not None and not isinstance(data["report"], str):
            raise ValueError("'report' must be text or null")
        return data

    async def page(request: Request):
        with open(os.path.join(STATIC, "index.html"), encoding="utf-8") as f:
            html = f.read()
        return HTMLResponse(html.replace("{{TOKEN}}", token), headers={"Cache-Control": "no-store"})

    async def static(request: Request):
        name = request.path_params["name"]
        if name not in STATIC_FILES:
            return Response("not found", 404)
        with open(os.path.join(STATIC, name), "rb") as f:
            return Response(f.read(), media_type=STATIC_FILES[name])

    async def cases(request: Request):
        return JSONResponse(session.case_list())

    async def case(request: Request):
        try:
            return JSONResponse(await run_in_threadpool(session.case_info, request.path_params["case"]))
        except (CaseNotFound, ValueError) as e:
            return failure(e)

    async def segment(request: Request):
        try:
            data = await body(request)
            return JSONResponse(await run_in_threadpool(session.segment, data["case"], data.get("report")))
        except (CaseNotFound, ValueError) as e:
            return failure(e)

    async def layers(request: Request):
        try:
            return JSONResponse(await run_in_threadpool(session.layers, request.path_params["case"],
                                                        int(request.path_params["k"])))
        except (CaseNotFound, ValueError) as e:
            return failure(e)

    async def save(request: Request):
        try:
            data = await body(request)
            path = await run_in_threadpool(session.save_report, data["case"], data.get("report"), save_folder)
            return JSONResponse({"saved": path})
        except (CaseNotFound, ValueError) as e:
            return failure(e)

    routes = [Route("/", page), Route("/static/{name}", static), Route("/api/cases", cases),
              Route("/api/case/{case}", case), Route("/api/layers/{case}/{k:int}", layers),
              Route("/api/segment", segment, methods=["POST"]), Route("/api/save", save, methods=["POST"])]
    return Guard(Starlette(routes=routes), token, max_body)
