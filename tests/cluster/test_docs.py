"""docs/scaling.md gives the nginx configuration the cluster tests run behind, not another one."""

from __future__ import annotations

import re
from pathlib import Path

from tests.services.nginx import BALANCER_CONFIG

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scaling.md"
MARK = "<!-- cluster-nginx-config"


def documented_nginx() -> str:
    text = DOCS.read_text()
    block = text[text.index(MARK) :]
    start = block.index("```nginx\n") + len("```nginx\n")
    return block[start : block.index("```", start)]


def directives(config: str) -> set[str]:
    """The proxy and upgrade directives of a configuration (not the test's temporary paths)."""
    lines = {" ".join(line.split()) for line in config.replace("{{", "{").replace("}}", "}").splitlines()}
    wanted = {line for line in lines if line.startswith(("proxy_", "map ")) and "{directory}" not in line}
    return wanted - {"proxy_pass http://backends;"}


def test_the_documented_nginx_config_is_the_tested_one() -> None:
    documented = documented_nginx()
    tested = directives(BALANCER_CONFIG)
    assert directives(documented) - {"proxy_pass http://pushbridge;"} == tested
    servers = re.findall(r"server \S+ (.*);", documented)
    assert servers
    assert all(options == "max_fails=1 fail_timeout=2s" for options in servers)
    assert (
        "max_fails=1 fail_timeout=2s"
        in Path(__file__).resolve().parents[1].joinpath("services", "nginx.py").read_text()
    )
