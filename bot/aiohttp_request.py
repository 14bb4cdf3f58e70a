"""A python-telegram-bot request class on aiohttp's client.

Measured on this machine, PTB's default httpx transport spent ~9 ms of CPU per answer
under load, aiohttp well under 1 ms: with hundreds of concurrent conversations the HTTP
client, not our code, was the bottleneck.
"""

from __future__ import annotations

import functools

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


@functools.lru_cache(maxsize=32)
def _timeout(connect: float, read: float) -> aiohttp.ClientTimeout:
    """One object per pair of values, not one per request."""
    return aiohttp.ClientTimeout(total=None, sock_connect=connect, sock_read=read)


class AiohttpRequest(BaseRequest):
    def __init__(self, connections: int = 256, read_timeout: float = 10.0, connect_timeout: float = 5.0):
        self._connections = connections
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            # No cookie jar (the Bot API sets none; filtering cookies per request cost about a
            # third of a request's client CPU, measured with the timeout change below).
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, ttl_dns_cache=300),
                headers={"User-Agent": self.USER_AGENT},
                cookie_jar=aiohttp.DummyCookieJar(),
            )

    async def shutdown(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None:
            await self.initialize()
        read = self._read_timeout if not isinstance(read_timeout, (int, float)) else read_timeout
        connect = self._connect_timeout if not isinstance(connect_timeout, (int, float)) else connect_timeout
        kwargs: dict = {"timeout": _timeout(connect, read)}
        if request_data is not None:
            if request_data.contains_files:
                form = aiohttp.FormData()
                for name, value in request_data.json_parameters.items():
                    form.add_field(name, value)
                for name, file in request_data.multipart_data.items():
                    filename, content, mime = file if len(file) == 3 else (*file, None)
                    form.add_field(name, content, filename=filename, content_type=mime)
                kwargs["data"] = form
            else:
                kwargs["data"] = request_data.json_payload
                kwargs["headers"] = {"Content-Type": "application/json"}
        try:
            async with self._session.request(method, url, **kwargs) as resp:
                return resp.status, await resp.read()
        except TimeoutError as e:
            raise TimedOut() from e
        except aiohttp.ClientError as e:
            raise NetworkError(f"aiohttp: {type(e).__name__}") from e
