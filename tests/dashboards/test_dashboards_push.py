"""``heatwatch dashboards push`` against a loopback HTTP server that records Grafana API calls."""

from __future__ import annotations

import argparse
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dashboards.build import load_json
from dashboards.cli import add_arguments, main


class FakeGrafana:
    """Records (method, path, auth header, JSON body); answers like Grafana 10/11 does."""

    def __init__(self, *, folder_exists: bool = False, fail_dashboards: bool = False) -> None:
        self.calls: list[tuple[str, str, str, Any]] = []
        self.folder_exists = folder_exists
        self.fail_dashboards = fail_dashboards
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _answer(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                fake.calls.append((self.command, self.path, self.headers.get("Authorization",
                                                                             ""), body))
                return body

            def do_GET(self) -> None:
                self._record()
                if self.path.startswith("/api/folders/") and fake.folder_exists:
                    self._answer(200, {"uid": "heatwatch", "title": "heatwatch"})
                else:
                    self._answer(404, {"message": "folder not found"})

            def do_POST(self) -> None:
                body = self._record()
                if self.path == "/api/folders":
                    fake.folder_exists = True
                    self._answer(200, {"uid": body["uid"], "title": body["title"]})
                elif self.path == "/api/dashboards/db" and not fake.fail_dashboards:
                    uid = body["dashboard"]["uid"]
                    self._answer(200, {"status": "success", "uid": uid, "version": 1})
                else:
                    self._answer(412, {"message": "precondition failed", "status": "bad"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def grafana() -> Iterator[FakeGrafana]:
    fake = FakeGrafana()
    yield fake
    fake.close()


def _run(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return main(parser.parse_args(list(argv)))


def test_push_creates_folder_and_overwrites_every_dashboard(grafana: FakeGrafana) -> None:
    assert _run("push", "--url", grafana.url, "--token", "glsa_test") == 0
    methods = [(m, p) for m, p, _, _ in grafana.calls]
    assert methods[:2] == [("GET", "/api/folders/heatwatch"), ("POST", "/api/folders")]
    posts = [body for m, p, _, body in grafana.calls if p == "/api/dashboards/db"]
    committed = load_json()
    assert [b["dashboard"]["uid"] for b in posts] == [d["uid"] for d in committed.values()]
    for body in posts:
        assert body["overwrite"] is True and body["folderUid"] == "heatwatch"
        assert body["dashboard"]["id"] is None
        assert body["dashboard"]["panels"]
    assert {auth for _, _, auth, _ in grafana.calls} == {"Bearer glsa_test"}


def test_push_with_existing_folder_and_token_from_env(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch
) -> None:
    grafana.folder_exists = True
    monkeypatch.setenv("HEATWATCH_GRAFANA_TOKEN", "from-env")
    assert _run("push", "--url", grafana.url) == 0
    assert ("POST", "/api/folders") not in [(m, p) for m, p, _, _ in grafana.calls]
    assert {auth for _, _, auth, _ in grafana.calls} == {"Bearer from-env"}


def test_push_reports_refusal_and_missing_token(
    grafana: FakeGrafana, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    grafana.fail_dashboards = True
    assert _run("push", "--url", grafana.url, "--token", "t") == 1
    assert "412" in capsys.readouterr().err
    monkeypatch.delenv("HEATWATCH_GRAFANA_TOKEN", raising=False)
    assert _run("push", "--url", grafana.url) == 2


def test_push_to_nothing_listening_is_one_line_and_exit_1(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 14 item 3: a refused connection (grafana-client lets niquests' ConnectionError
    through) is one line on stderr, no traceback."""
    from heatwatch.local.servers import free_port

    assert _run("push", "--url", f"http://127.0.0.1:{free_port()}", "--token", "t") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach Grafana" in err and "refused" in err
    assert "Traceback" not in err
