"""Real services for the test suite: PostgreSQL, Redis and nginx, each on a free loopback port.

Each launcher starts the Debian program directly (no Docker, no system service), keeps its
files in a temporary directory, and removes everything in ``stop()``. ``scripts/test`` installs
the packages; when one is missing a test that needs it is skipped with the reason, except under
CI (``CI=true``), where a missing service is a failure: a green CI must mean the tests ran.
"""
