"""What a browser POSTed: a JSON object of bounded depth, or the form fields.

The auth views are reachable anonymously and ``message_view`` by any logged-in user, so their
bodies are untrusted. Python's JSON parser recurses once per nesting level: a body of a few
hundred kilobytes of ``[`` would raise ``RecursionError`` (a 500) in the parser, or later in
whatever walks the value. Nothing a page sends nests deeply, so bodies deeper than
:data:`MAX_JSON_DEPTH` are refused with a 400 that names the limit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from pushbridge.errors import ValidationError

#: Nesting levels a JSON body may have (the object itself is level 1).
MAX_JSON_DEPTH = 32


def _too_deep(limit: int) -> ValidationError:
    return ValidationError(f"The request body's JSON nests more than {limit} levels deep; the limit is {limit}.")


def json_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` containers deep (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json_object(body: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Decode a JSON object body; raises :class:`ValidationError` for anything else."""
    try:
        data = json.loads(body or b"{}")
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError:
        raise ValidationError("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ValidationError(f"The request body must be a JSON object, not {type(data).__name__}.")
    if json_depth_exceeds(data, max_depth):
        raise _too_deep(max_depth)
    return data


def request_data(request: HttpRequest) -> Mapping[str, Any]:
    """Form fields, or a JSON object body; raises ValidationError for a body that is neither."""
    if request.content_type == "application/json":
        return parse_json_object(request.body)
    return request.POST  # a QueryDict: forms see every value of a multi-valued field
