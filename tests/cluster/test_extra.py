"""``pip install "pushbridge[cluster]"`` brings what docs/scaling.md says: redis-py with hiredis."""

from __future__ import annotations

from importlib.metadata import requires


def test_the_cluster_extra_installs_redis_py_with_its_c_parser() -> None:
    cluster = [r for r in requires("pushbridge") or [] if 'extra == "cluster"' in r]
    assert any(r.replace(" ", "").startswith("redis[hiredis]>=") for r in cluster), cluster
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE, "the test extra installs pushbridge[cluster], so hiredis must be importable"
