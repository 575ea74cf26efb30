"""A TCP gate in front of a real server: it holds what clients send until the test opens it.

For proving that something does not block while a service is slow, without timing anything:
the test sees the request arrive at the gate (``holding``), checks that other work goes on
while it is held, then opens the gate and the request completes against the real server
behind it. A safety deadline opens the gate on its own so that a blocked caller fails the
test (``opened_by_deadline``) instead of hanging it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

SAFETY_SECONDS = 30.0


class Gate:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.holding = threading.Event()  # a client's bytes are waiting at the closed gate
        self.opened = threading.Event()
        self.opened_by_deadline = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stopped = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        self._deadline = threading.Timer(SAFETY_SECONDS, self._open_by_deadline)
        self._deadline.daemon = True
        self._deadline.start()

    def open(self) -> None:
        self._deadline.cancel()
        self.opened.set()

    def _open_by_deadline(self) -> None:
        self.opened_by_deadline = True
        self.opened.set()

    def close(self) -> None:
        self._stopped = True
        self.open()
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def __enter__(self) -> Gate:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, gated: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if gated and not self.opened.is_set():
                    self.holding.set()
                    self.opened.wait()
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
