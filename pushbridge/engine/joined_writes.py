"""Joining consecutive fan-outs to the same connections into one write per connection.

A ``batch_events`` request of ten events to one channel would otherwise cost every
subscriber ten ``send()`` calls, and ``send()`` is most of what a delivery costs the server.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pushbridge.engine.outputs import Fanout, Output
from pushbridge.engine.state import Connection
from pushbridge.engine.wire import websocket_text_frame

#: A run of fan-outs is joined up to this many bytes per write. The slow-client guard acts
#: after a write, so this bounds how far a write may go past ``max_buffer_bytes``; small
#: events (the common case) still go ten to a write.
JOIN_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class JoinedFanout:
    """``count`` consecutive fan-outs to the same connections, as one buffer per connection."""

    targets: Sequence[Connection]
    exclude: Connection | None
    count: int
    data: bytes


def join_fanouts(outputs: list[Output]) -> list[Output | JoinedFanout]:
    """``outputs`` with every fan-out in a :class:`JoinedFanout`: runs to the same connections joined.

    A run is typically a ``batch_events`` request on one channel; a lone fan-out is a run of one.

    Each subscriber then gets the run's frames in one ``transport.write``: one ``send()`` per
    connection per run instead of one per event, and the ``send()`` system call is most of a
    delivery's cost (see BENCHMARKS.md). The bytes on the wire, and their order on every
    connection, are exactly those of writing the frames one by one, because only a run of
    *consecutive* fan-outs with the same targets and the same excluded connection is joined.
    """
    joined: list[Output | JoinedFanout] = []
    run: list[Fanout] = []
    frames: list[bytes] = []
    size = 0

    def close_run() -> None:
        nonlocal size
        if run:
            joined.append(JoinedFanout(run[0].targets, run[0].exclude, len(run), b"".join(frames)))
        run.clear()
        frames.clear()
        size = 0

    for output in outputs:
        if type(output) is not Fanout:
            close_run()
            joined.append(output)
            continue
        assert isinstance(output, Fanout)
        frame = websocket_text_frame(output.frame)
        if run and (
            size + len(frame) > JOIN_BYTES or output.exclude is not run[0].exclude or output.targets != run[0].targets
        ):
            close_run()
        run.append(output)
        frames.append(frame)
        size += len(frame)
    close_run()
    return joined
