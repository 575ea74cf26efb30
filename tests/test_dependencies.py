"""``pip install pushbridge`` stays light: trigger() needs only Django and urllib3."""

from __future__ import annotations

import importlib.metadata
import json
import re
import textwrap

from tests.collector import run_against_collector


def test_the_package_requires_only_django_and_urllib3() -> None:
    required = importlib.metadata.requires("pushbridge") or []
    core = {re.split(r"[<>=!~ \[;]", line)[0].lower() for line in required if "extra ==" not in line}
    assert core == {"django", "urllib3"}


def test_trigger_runs_with_nothing_but_django_and_urllib3_importable() -> None:
    """A process where every other installed package (requests, certifi...) fails to import.

    pushbridge itself is installed in editable mode, from the working tree.
    """
    script = textwrap.dedent(
        """
        import importlib.abc
        import importlib.machinery
        import json
        import sys

        INSTALLED = {"django", "asgiref", "sqlparse", "urllib3", "pushbridge"}  # with Django's own needs

        def third_party(origin):
            return "-packages" in (origin or "")

        class NotInstalled(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path, target=None):
                if name.partition(".")[0] in INSTALLED:
                    return None
                spec = importlib.machinery.PathFinder.find_spec(name, path)
                if spec is not None and third_party(spec.origin):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NotInstalled())
        import django
        from django.conf import settings

        entry = {"BACKEND": "soketi", "PORT": int(sys.argv[1]), "RETRIES": 0}
        settings.configure(PUSHBRIDGE={"default": entry}, INSTALLED_APPS=["pushbridge"])
        django.setup()
        import pushbridge

        pushbridge.trigger("light", "e", {"n": 1})
        pushbridge.trigger_batch([pushbridge.Event("light", "e", {"n": n}) for n in (2, 3)])
        loaded = {name.partition(".")[0] for name, module in list(sys.modules.items())
                  if third_party(getattr(module, "__file__", None)) and not name.startswith("_")}
        print(json.dumps(sorted(loaded)))
        """
    )
    result, received = run_against_collector(script)
    assert result.returncode == 0, result.stderr
    assert received == [{"n": 1}, {"n": 2}, {"n": 3}]
    loaded = set(json.loads(result.stdout))  # site hooks (the editable install's finder) aside
    assert "urllib3" in loaded
    assert loaded <= {"django", "asgiref", "sqlparse", "urllib3"}
