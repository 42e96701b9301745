"""The dashboard's HTTP server: the standard library's, bound to 127.0.0.1 only, one database
connection per request (a local tool for one operator: no pool to size or leak).

Routes: `/` (what the caller may open), `/platform` (service_role), `/workspace/<id>`, each with
`?as=<email>` to act as that member, and `/static/...` (the page's script and style, plotly.min.js
from the plotly package).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import sys
import traceback
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import psycopg

from agent_analytics import db, postgrest
from agent_analytics.dashboard import DashboardError, pages, queries

HOST = "127.0.0.1"

# Scripts and styles from the dashboard itself only (plotly sets inline styles on its SVG); no
# request leaves the machine, nothing may frame the pages.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# What a request tells the database about itself (the audit trail reads request.headers).
REQUEST_HEADERS = {"user-agent": "agent-analytics dashboard", "x-forwarded-for": HOST}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


def static_assets() -> dict[str, Asset]:
    """The files the pages load, read once: plotly's bundle under a versioned name (so that the
    browser may keep it), the page's script and style."""
    try:
        bundle = importlib.resources.files("plotly") / "package_data" / "plotly.min.js"
        plotly_js = bundle.read_bytes()
        version = importlib.metadata.version("plotly")
    except (ModuleNotFoundError, FileNotFoundError, importlib.metadata.PackageNotFoundError) as error:
        raise DashboardError(
            "the dashboard's charts need plotly: pip install 'agent-analytics[dashboard]'") from error
    here = importlib.resources.files("agent_analytics.dashboard") / "static"
    return {
        f"/static/plotly-{version}.min.js": Asset(plotly_js, "text/javascript; charset=utf-8"),
        "/static/dashboard.js": Asset((here / "dashboard.js").read_bytes(), "text/javascript; charset=utf-8"),
        "/static/dashboard.css": Asset((here / "dashboard.css").read_bytes(), "text/css; charset=utf-8"),
    }


class DashboardServer(ThreadingHTTPServer):
    """The server and what its handlers share: the database to read and the static files."""

    daemon_threads = True  # a stop does not wait for a browser's kept-alive connection

    def __init__(self, target: db.Connection, port: int) -> None:
        self.target = target
        self.assets = static_assets()
        self.plotly_url = next(path for path in self.assets if path.startswith("/static/plotly-"))
        try:
            super().__init__((HOST, port), DashboardHandler)
        except OSError as error:
            raise DashboardError(f"cannot listen on {HOST}:{port}: {error.strerror or error}") from error

    @property
    def port(self) -> int:
        return self.server_address[1]


class DashboardHandler(BaseHTTPRequestHandler):
    server: DashboardServer
    server_version = "agent-analytics-dashboard"
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: a page view is not news; errors are written where they happen."""

    def _respond(self, head: bool) -> None:
        if not self._host_is_local():
            # a page of another site reaching 127.0.0.1 through a name it controls (DNS rebinding)
            self._send(HTTPStatus.MISDIRECTED_REQUEST, pages.error_page(421, "open the dashboard at 127.0.0.1"), head)
            return
        url = urlsplit(self.path)
        asset = self.server.assets.get(url.path)
        if asset is not None:
            self._send(HTTPStatus.OK, asset.body, head, asset.content_type,
                       cache="public, max-age=31536000, immutable" if "plotly-" in url.path else "no-cache")
            return
        email = (parse_qs(url.query).get("as") or [""])[0].strip() or None
        caller: queries.Caller | None = None
        try:
            with db.connect(self.server.target) as conn:
                # the operator chooses whom to act as: the lookup is service_role's, the page the member's
                with postgrest.acting_as(conn, "service_role", headers=REQUEST_HEADERS) as as_service:
                    caller = queries.caller_for(as_service, email)
                with postgrest.acting_as(conn, caller.role, caller.user_id, REQUEST_HEADERS) as as_caller:
                    body = self._page(as_caller, caller, url.path)
            self._send(HTTPStatus.OK, body, head)
        except queries.NotFound as error:
            self._send(HTTPStatus.NOT_FOUND, pages.error_page(404, str(error), caller), head)
        except queries.Forbidden as error:
            self._send(HTTPStatus.FORBIDDEN, pages.error_page(403, str(error), caller), head)
        except db.DatabaseUnavailable as error:
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, pages.error_page(503, str(error), caller), head)
        except psycopg.Error as error:
            print(f"dashboard: {self.path}: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
            message = f"the database refused the page: {str(error).strip().splitlines()[0] if str(error) else error}"
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, pages.error_page(500, message, caller), head)
        except Exception:  # a bug: its traceback for the operator, a page without it for the browser
            traceback.print_exc(file=sys.stderr)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR,
                       pages.error_page(500, "the dashboard failed (its terminal shows why)", caller), head)

    def _page(self, conn: psycopg.Connection, caller: queries.Caller, path: str) -> str:
        if path == "/":
            return pages.index_page(caller, queries.workspaces(conn, caller), self.server.plotly_url)
        if path == "/platform":
            return pages.dashboard_page(caller, queries.dashboard(conn, caller, None), self.server.plotly_url)
        if path.startswith("/workspace/"):
            try:
                workspace_id = uuid.UUID(path.removeprefix("/workspace/"))
            except ValueError:
                raise queries.NotFound(f"no page {path}") from None
            return pages.dashboard_page(caller, queries.dashboard(conn, caller, workspace_id), self.server.plotly_url)
        raise queries.NotFound(f"no page {path}")

    def _host_is_local(self) -> bool:
        host = self.headers.get("Host", "")
        return host in {f"{HOST}:{self.server.port}", f"localhost:{self.server.port}"}

    def _send(self, status: HTTPStatus, body: str | bytes, head: bool, content_type: str = "text/html; charset=utf-8",
              cache: str = "no-store") -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", cache)
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(data)
