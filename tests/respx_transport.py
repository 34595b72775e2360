"""respx for the feed fetcher's own transport.

respx patches httpcore's pools, which the webhook notifier and the other httpx clients use; the
feed fetcher sends through an aiohttp transport (monitor/sources/transport.py) that httpcore
never sees. This mocker patches both: httpcore's targets as respx's own mocker does, plus the
fetcher transport's `handle_async_request`, which already speaks httpx requests and responses.
tests/conftest.py makes it the default, so `@respx.mock` and its routes work unchanged.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from respx.mocks import HTTPCoreMocker

FETCHER_TRANSPORT = "monitor.sources.transport.AiohttpTransport"


class FetcherAndHTTPCoreMocker(HTTPCoreMocker):
    name = "monitor"
    targets: ClassVar[list[str]] = [*HTTPCoreMocker.targets, FETCHER_TRANSPORT]

    @classmethod
    async def prepare_async_request(
        cls, httpx_request: httpx.Request, **kwargs: Any
    ) -> tuple[httpx.Request, dict[str, Any]]:
        if isinstance(kwargs["request"], httpx.Request):
            await httpx_request.aread()
            return httpx_request, kwargs
        return await super().prepare_async_request(httpx_request, **kwargs)

    @classmethod
    def to_httpx_request(cls, **kwargs: Any) -> httpx.Request:
        request = kwargs["request"]
        if isinstance(request, httpx.Request):
            return request
        return super().to_httpx_request(**kwargs)  # type: ignore[no-any-return]

    @classmethod
    async def from_async_httpx_response(
        cls, httpx_response: httpx.Response, target: Any, **kwargs: Any
    ) -> Any:
        if isinstance(kwargs["request"], httpx.Request):
            return httpx.Response(
                status_code=httpx_response.status_code,
                headers=httpx_response.headers.raw,
                stream=httpx_response.stream,
                extensions=httpx_response.extensions,
                request=kwargs["request"],
            )
        return await super().from_async_httpx_response(httpx_response, target, **kwargs)
