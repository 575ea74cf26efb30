"""A real nginx as the load balancer in front of several servers (WebSocket and HTTP).

The configuration is the one a production deployment needs for the Pusher protocol: the
``Upgrade``/``Connection`` headers passed through, long read timeouts for idle sockets, and
the next upstream tried when one refuses connections.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.services.process import free_port, require_program, stop_process, wait_for_port

#: nginx's temporary files in the instance's private directory (its defaults are under /var).
TEMP_PATHS = """\
    client_body_temp_path {directory}/body;
    proxy_temp_path {directory}/proxy;
    fastcgi_temp_path {directory}/fastcgi;
    uwsgi_temp_path {directory}/uwsgi;
    scgi_temp_path {directory}/scgi;"""

BALANCER_CONFIG = """
{user}
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
{temp_paths}
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream backends {{
        {balance}
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
        }}
    }}
}}
"""


class NginxServer:
    """nginx balancing ``upstreams`` (``host:port`` strings) round-robin, or a config of your own.

    ``config`` may be any nginx configuration with the placeholders ``{port}`` (the free port
    to listen on), ``{directory}`` (a private temporary directory), ``{temp_paths}``
    (:data:`TEMP_PATHS` for that directory) and ``{user}``.
    """

    def __init__(self, upstreams: Sequence[str] = (), *, config: str | None = None, balance: str = "") -> None:
        self.program = require_program("nginx", "/usr/sbin/nginx")
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="pushbridge-nginx-"))
        servers = "\n".join(f"        server {upstream} max_fails=1 fail_timeout=2s;" for upstream in upstreams)
        template = config if config is not None else BALANCER_CONFIG
        # As root nginx would switch its worker to "nobody", who cannot read our temp directory.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.config = template.format(
            port=self.port,
            directory=self.directory,
            temp_paths=TEMP_PATHS.format(directory=self.directory),
            user=user,
            servers=servers,
            balance=balance and f"{balance};",
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> NginxServer:
        config_file = self.directory / "nginx.conf"
        config_file.write_text(self.config)
        args = [self.program, "-p", str(self.directory), "-c", str(config_file), "-g", "daemon off;"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process, self.directory / "error.log")
        return self

    def stop(self) -> None:
        stop_process(self.process, sig=15)
        self.process = None
