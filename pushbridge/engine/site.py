"""The listening socket: aiohttp's TCP site, with every accepted connection put through admission."""

from __future__ import annotations

import asyncio

from aiohttp import web

from pushbridge.engine.admission import Admission, admitting


class AdmittingSite(web.BaseSite):
    """Like aiohttp's ``TCPSite``, but connections over :class:`Admission`'s limits are turned away.

    ``reuse_port`` lets several processes listen on the same port (the kernel spreads the
    connections between them).
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        admission: Admission,
        header_timeout: float,
        *,
        reuse_address: bool = True,
        reuse_port: bool = False,
        backlog: int = 512,
    ) -> None:
        super().__init__(runner, backlog=backlog)
        self.host = host
        self.port = port
        self.admission = admission
        self.header_timeout = header_timeout
        self.reuse_address = reuse_address
        self.reuse_port = reuse_port

    @property
    def name(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await super().start()
        factory = self._runner.server
        assert factory is not None
        self._server = await asyncio.get_running_loop().create_server(
            admitting(factory, self.admission, self.header_timeout),
            self.host,
            self.port,
            backlog=self._backlog,
            reuse_address=self.reuse_address,
            reuse_port=self.reuse_port or None,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = sockets[0].getsockname()[1]
