"""respx for the feed fetcher's own transport.

respx patches httpcore's pools, which the webhook notifier and the other httpx clients use; the
feed fetcher sends through an aiohttp transport (monitor/sources/transport.py) that httpcore
never sees. This mocker patches both: httpcore's targets as respx's own mocker does, plus the
fetcher transport's two ways in: `handle_async_request`, which already speaks httpx requests
and responses, and `get`, the fetcher's direct path (a URL and headers in; an httpx response
out, which the fetcher reads as it reads the transport's own `Reply`).
tests/conftest.py makes it the default, so `@respx.mock` and its routes work unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar
from unittest import mock

import httpx
from respx.mocks import HTTPCoreMocker

FETCHER_TRANSPORT = "monitor.sources.transport.AiohttpTransport"


class FetcherAndHTTPCoreMocker(HTTPCoreMocker):
    name = "monitor"
    targets: ClassVar[list[str]] = [*HTTPCoreMocker.targets, FETCHER_TRANSPORT]
    target_methods: ClassVar[list[str]] = [*HTTPCoreMocker.target_methods, "get"]

    @classmethod
    def start(cls) -> None:
        """respx's patching, but `get` only on the fetcher's transport (another target's
        `get`, should one have it, is not a request method)."""
        if cls._patches:
            return
        for target in cls.targets:
            for method in cls.target_methods:
                if method == "get" and target != FETCHER_TRANSPORT:
                    continue
                try:
                    patch = mock.patch(f"{target}.{method}", spec=True, new_callable=cls.mock)
                    patch.start()
                    cls._patches.append(patch)
                except AttributeError:
                    pass

    @classmethod
    async def prepare_async_request(
        cls, httpx_request: httpx.Request, **kwargs: Any
    ) -> tuple[httpx.Request, dict[str, Any]]:
        if _fetcher_call(kwargs):
            await httpx_request.aread()
            return httpx_request, kwargs
        return await super().prepare_async_request(httpx_request, **kwargs)

    @classmethod
    def to_httpx_request(cls, **kwargs: Any) -> httpx.Request:
        request = kwargs.get("request")
        if isinstance(request, httpx.Request):
            return request
        if "url" in kwargs and "headers" in kwargs:  # AiohttpTransport.get
            extensions = {"timeout": kwargs["timeout"]}
            return httpx.Request(
                "GET", kwargs["url"], headers=kwargs["headers"], extensions=extensions
            )
        return super().to_httpx_request(**kwargs)  # type: ignore[no-any-return]

    @classmethod
    async def from_async_httpx_response(
        cls, httpx_response: httpx.Response, target: Any, **kwargs: Any
    ) -> Any:
        if _fetcher_call(kwargs):
            return httpx.Response(
                status_code=httpx_response.status_code,
                headers=httpx_response.headers.raw,
                stream=httpx_response.stream,
                extensions=httpx_response.extensions,
                request=cls.to_httpx_request(**kwargs),
            )
        return await super().from_async_httpx_response(httpx_response, target, **kwargs)


def _fetcher_call(kwargs: dict[str, Any]) -> bool:
    """A call of the fetcher transport's `handle_async_request` or `get` (not httpcore's)."""
    return isinstance(kwargs.get("request"), httpx.Request) or (
        "url" in kwargs and "headers" in kwargs
    )
