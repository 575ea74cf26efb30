"""One job: send a request to one base URL over a keep-alive connection pool, and return the reply.

Built on urllib3, the connection pool that requests itself sends through. A signed API call
needs none of requests' session layer (URL re-parsing, proxy selection per request, cookie
extraction, ``Response`` building), and in a profile of the background sender that layer was
about 45 % of the CPU of a 10-event request.

The environment is read once, when a transport is made (requests read it on every request):

* proxies: ``http_proxy``, ``https_proxy`` and ``all_proxy`` (either case), skipped for hosts
  that ``no_proxy`` names (names, domain suffixes, ``host:port``, IP networks such as
  ``10.0.0.0/8``, or ``*``), as requests reads them; credentials in the proxy URL are sent as
  ``Proxy-Authorization``;
* certificates to trust for HTTPS: the file or directory named by ``REQUESTS_CA_BUNDLE`` or
  ``CURL_CA_BUNDLE``, else certifi's bundle when certifi is installed, else the system's.
  Certificates and host names are always verified.

Nothing is retried and no redirect is followed: retries belong to ``pushbridge.dispatch.retry``,
and a redirect from a signed API is an error to report, not a place to send the event again.
A failure is raised as the kind that says what it means for delivery, the one thing callers
decide on (see :class:`TransportError` and its subclasses).
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies, proxy_bypass

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    PoolError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)

from pushbridge.errors import ConfigurationError

#: No retries of any kind (connect, read, status, redirect): urllib3 raises the first failure.
NO_RETRIES = urllib3.Retry(total=False, redirect=False)


@dataclass(frozen=True)
class Reply:
    """What the service answered: status line, headers (case-insensitive) and the whole body."""

    status: int
    reason: str
    headers: Mapping[str, str]
    body: bytes


class TransportError(Exception):
    """No complete reply arrived. The message is the innermost cause, the part a person can act on."""


class ConnectionFailed(TransportError):
    """The connection failed before a reply began (refused, reset, closed unanswered, TLS, proxy)."""


class NeverConnected(ConnectionFailed):
    """The connection was never made (refused, unreachable, unknown name, connect timeout).

    Nothing was sent, so sending again, here or to another host, cannot deliver twice.
    """


class ReplyTimeout(TransportError):
    """No reply within the read timeout: the service may already have acted on the request."""


class BrokenReply(TransportError):
    """A reply began but could not be read whole (bad chunking, an undecodable body...)."""


class Transport:
    """A keep-alive pool of up to ``pool_size`` idle connections to ``base_url``.

    ``base_url`` is ``scheme://host[:port]``; requests name a target below it
    (``/path?query``). Safe to share between threads: the pool hands each request its own
    connection, and opens more than ``pool_size`` when busy rather than making callers wait.
    """

    def __init__(
        self, base_url: str, *, timeout: tuple[float, float], pool_size: int, headers: Mapping[str, str]
    ) -> None:
        self.base_url = base_url
        self.headers = dict(headers)
        #: The proxy requests go through (read once from the environment), or ``None``.
        self.proxy = proxy_for(base_url)
        pool_settings: dict[str, Any] = {
            "num_pools": 1,
            "maxsize": pool_size,
            "block": False,
            "timeout": urllib3.Timeout(connect=timeout[0], read=timeout[1]),
            "retries": NO_RETRIES,
        }
        if urlsplit(base_url).scheme == "https":
            pool_settings.update(cert_reqs="CERT_REQUIRED", **ca_settings())
        self._manager: urllib3.PoolManager
        self._urlopen: Callable[..., Any]
        if self.proxy is None:
            self._manager = urllib3.PoolManager(**pool_settings)
            # The pool itself, found once: a request then skips the manager's URL parsing.
            self._urlopen = self._manager.connection_from_url(base_url).urlopen
            self._prefix = ""
        else:
            self._manager = _proxy_manager(self.proxy, pool_settings)
            self._urlopen = self._manager.urlopen  # it writes the absolute form or tunnels
            self._prefix = base_url

    def request(
        self, method: str, target: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Send one request for ``target`` (``/path?query``, already encoded) and read the whole reply."""
        try:
            response = self._urlopen(
                method,
                self._prefix + target,
                body=body,
                headers={**self.headers, **headers} if headers else self.headers,
                retries=NO_RETRIES,
                redirect=False,
                preload_content=False,
            )
        except (NewConnectionError, ConnectTimeoutError) as exc:
            # NewConnectionError (refused, unreachable, unknown name) is a ConnectTimeoutError
            # in urllib3's hierarchy; both mean no connection was ever made.
            raise NeverConnected(_innermost(exc)) from exc
        except ReadTimeoutError as exc:
            raise ReplyTimeout(_innermost(exc)) from exc
        except (ProtocolError, SSLError, ProxyError, PoolError) as exc:
            raise ConnectionFailed(_innermost(exc)) from exc
        except HTTPError as exc:
            raise BrokenReply(_innermost(exc)) from exc
        try:
            data = response.read()
        except ReadTimeoutError as exc:
            raise ReplyTimeout(_innermost(exc)) from exc
        except HTTPError as exc:
            raise BrokenReply(_innermost(exc)) from exc
        finally:
            response.release_conn()
        return Reply(response.status, response.reason or "", response.headers, data)

    def close(self) -> None:
        """Close every pooled connection; the transport is not used afterwards."""
        self._manager.clear()


def proxy_for(base_url: str) -> str | None:
    """The proxy URL the environment names for ``base_url``, or ``None`` to connect directly."""
    parts = urlsplit(base_url)
    if _bypasses_proxy(parts.netloc, parts.hostname or ""):
        return None
    proxies = getproxies()
    return proxies.get(parts.scheme) or proxies.get("all") or None


def _bypasses_proxy(netloc: str, host: str) -> bool:
    """Whether ``no_proxy`` names this host: as the standard library reads it, or by IP network."""
    if proxy_bypass(netloc):
        return True
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    for entry in no_proxy.replace(" ", "").split(","):
        if "/" in entry:
            try:
                if address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue  # not a network: the standard library has judged it as a name
    return False


def _proxy_manager(proxy: str, pool_settings: Mapping[str, Any]) -> urllib3.ProxyManager:
    parts = urlsplit(proxy)
    if parts.scheme not in ("http", "https"):
        raise ConfigurationError(
            f"The proxy {_without_password(proxy)!r} from the environment is not supported: pushbridge "
            "connects through http:// and https:// proxies only."
        )
    proxy_headers = None
    if parts.username:
        credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        proxy_headers = urllib3.make_headers(proxy_basic_auth=credentials)
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **pool_settings)


def ca_settings() -> dict[str, str]:
    """The certificates to trust, as urllib3 settings; empty means the system's own."""
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        if os.path.isdir(bundle):
            return {"ca_cert_dir": bundle}
        if os.path.isfile(bundle):
            return {"ca_certs": bundle}
        variable = "REQUESTS_CA_BUNDLE" if os.environ.get("REQUESTS_CA_BUNDLE") else "CURL_CA_BUNDLE"
        raise ConfigurationError(f"{variable}={bundle!r} names no file or directory of CA certificates.")
    try:
        import certifi
    except ImportError:
        return {}
    return {"ca_certs": certifi.where()}


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _innermost(exc: BaseException) -> str:
    """The innermost cause of a chain of errors: the refused socket rather than urllib3's wrapper."""
    seen = {id(exc)}
    while True:
        inner = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if inner is None or id(inner) in seen:
            return str(exc) or type(exc).__name__
        exc = inner
        seen.add(id(exc))
