"""``manage.py pushbridge_runserver`` in a user's own project: Django and the push server, one command.

Run as a user runs it, in a subprocess of a fresh startproject project. A WebSocket client stays
subscribed while Django reloads after a code change, and still gets the next event: the push
server is not restarted with Django. SIGTERM to the command (what a supervisor or a terminal's
close sends) stops both servers.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import requests
import websocket

from tests.newproject import Project, free_port, start_project, wait_until

VIEWS = """from django.http import HttpResponse


def hello(request):
    return HttpResponse("{version}")
"""


def answers(url: str, text: str) -> bool:
    try:
        return requests.get(url, timeout=5).text == text
    except requests.RequestException:
        return False


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def make_project(tmp_path: Path, ws_port: int) -> Project:
    project = start_project(tmp_path)
    project.add_settings(
        f'INSTALLED_APPS += ["pushbridge"]\nPUSHBRIDGE = {{"default": {{"BACKEND": "embedded", "PORT": {ws_port}}}}}\n'
    )
    (project.package / "views.py").write_text(VIEWS.format(version="v1"))
    (project.package / "urls.py").write_text(
        "from django.urls import include, path\n\n"
        "from mysite.views import hello\n\n"
        'urlpatterns = [path("hello/", hello), path("pushbridge/", include("pushbridge.urls"))]\n'
    )
    return project


def test_runserver_runs_both_and_reloads_only_django(tmp_path: Path) -> None:
    web_port, ws_port = free_port(), free_port()
    project = make_project(tmp_path, ws_port)
    log = tmp_path / "runserver.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "pushbridge_runserver", f"127.0.0.1:{web_port}"],
            cwd=project.root,
            env=project.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    client = None
    try:
        hello = f"http://127.0.0.1:{web_port}/hello/"
        wait_until(lambda: answers(hello, "v1"), "Django answering", process, log)
        assert requests.get(f"http://127.0.0.1:{ws_port}/health", timeout=5).json()["ok"] is True
        assert f"pushbridge server listening on http://127.0.0.1:{ws_port}" in log.read_text()

        client = websocket.create_connection(f"ws://127.0.0.1:{ws_port}/app/app-key?protocol=7", timeout=30)
        assert json.loads(client.recv())["event"] == "pusher:connection_established"
        client.send(json.dumps({"event": "pusher:subscribe", "data": {"channel": "news"}}))
        assert json.loads(client.recv())["event"] == "pusher_internal:subscription_succeeded"

        def saved_and_reloaded() -> bool:
            # Saved again until seen: the reloader notices changes to files it already watches.
            (project.package / "views.py").write_text(VIEWS.format(version="v2"))
            return answers(hello, "v2")

        wait_until(saved_and_reloaded, "Django reloading the changed view", process, log)

        project.manage("pushbridge_trigger", "news", "headline", '{"n": 1}')
        event = json.loads(client.recv())  # the same connection: the push server did not restart
        assert (event["channel"], event["event"], json.loads(event["data"])) == ("news", "headline", {"n": 1})

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        assert not listening(web_port), "Django's child process outlived the command"
        assert not listening(ws_port), "the push server outlived the command"
        assert "pushbridge server stopped." in log.read_text()
    finally:
        if client is not None:
            client.close()
        if process.poll() is None:
            process.kill()
            process.wait()


def test_no_push_server_for_other_backends() -> None:
    from io import StringIO

    from django.test import override_settings

    from pushbridge.management.commands.pushbridge_runserver import Command

    out = StringIO()
    with override_settings(PUSHBRIDGE={"default": {"BACKEND": "soketi"}}):
        assert Command(stdout=out)._start_push_server("default") is None
    assert "PUSHBRIDGE['default'] uses SoketiBackend, not the embedded server: no push server started" in out.getvalue()


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    import pytest
    from django.core.management.base import CommandError
    from django.test import override_settings

    from pushbridge.management.commands.pushbridge_runserver import Command

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with (
            override_settings(PUSHBRIDGE={"default": {"BACKEND": "embedded", "PORT": port}}),
            pytest.raises(CommandError, match=f"cannot listen on 127.0.0.1:{port} .*--no-push-server"),
        ):
            Command()._start_push_server("default")
