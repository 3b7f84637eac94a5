"""A sink for workers that have only a Supabase project URL and a service key: batches go through the
`ingest-logs` edge function, called with supabase-py's `functions.invoke` (the `supabase` extra:
`pip install 'workflow-logs[supabase]'`).

The function serves the bridge's ingestion contract behind its name
(`/functions/v1/ingest-logs/v2/executions/{execution_id}/logs`), so this sink shares HttpSink's
chunking, concurrency and error mapping; only the transport differs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from ._sinks import MAX_BODY_BYTES, MAX_ENTRIES, EndpointSink, PermanentSinkError, TransientSinkError

if TYPE_CHECKING:  # the supabase package is optional; imported when the sink opens
    from supabase import AsyncClient

__all__ = ["SupabaseSink"]

FUNCTION_NAME = "ingest-logs"
# functions.invoke treats `?` and `#` as the start of a query or fragment and `/` as a path separator,
# and re-encodes `%`-escapes: an execution id holding one of these cannot be named through it.
_UNSENDABLE = ("/", "?", "#")


class SupabaseSink(EndpointSink):
    """Writes batches through the `ingest-logs` edge function of a Supabase project.

    Give the project URL and a service key (`SupabaseSink("https://<ref>.supabase.co", key)`: the sink
    creates a supabase client on an HTTP/2 httpx client of its own and closes it), or your own
    `supabase.AsyncClient` created with the service key (`client=`; it is not closed).

    Errors are the bridge's: 4xx are `PermanentSinkError` (with the refused entry's index when the
    answer names one), 408/425/429/5xx and connection failures `TransientSinkError` (retried by the
    writer; entry ids make a retry insert nothing twice).
    """

    def __init__(
        self,
        supabase_url: str | None = None,
        service_key: str | None = None,
        *,
        client: AsyncClient | None = None,
        function: str = FUNCTION_NAME,
        timeout: float = 30.0,
        max_entries: int = MAX_ENTRIES,
        max_bytes: int = MAX_BODY_BYTES,
        concurrency: int = 8,
    ) -> None:
        super().__init__(max_entries=max_entries, max_bytes=max_bytes, concurrency=concurrency)
        if (client is None) == (supabase_url is None or service_key is None):
            raise ValueError("give supabase_url and service_key, or client")
        self._url = supabase_url
        self._key = service_key
        self._client = client
        self._own_client = client is None
        self._http: httpx.AsyncClient | None = None
        self._function = function.strip("/")
        self._timeout = timeout
        self._errors: tuple[type[Exception], type[Exception]] | None = None

    async def open(self) -> None:
        if self._errors is None:
            try:
                from supabase_functions.errors import FunctionsHttpError, FunctionsRelayError
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise ImportError(
                    "SupabaseSink needs the supabase package: pip install 'workflow-logs[supabase]'"
                ) from exc
            self._errors = (FunctionsHttpError, FunctionsRelayError)
        if self._client is None:
            from supabase import AsyncClientOptions, acreate_client

            assert self._url is not None and self._key is not None
            self._http = httpx.AsyncClient(http2=True, timeout=self._timeout)
            try:
                self._client = await acreate_client(
                    self._url, self._key, options=AsyncClientOptions(httpx_client=self._http)
                )
            except BaseException:
                http, self._http = self._http, None
                await http.aclose()
                raise

    async def aclose(self) -> None:
        if self._own_client:
            self._client = None
            if self._http is not None:
                http, self._http = self._http, None
                await http.aclose()

    def _where(self, execution_id: str) -> str:
        return f"functions.invoke({self._function!r}) for execution {execution_id!r}"

    async def _post(self, execution_id: str, body: bytes) -> tuple[int, Any]:
        assert self._client is not None and self._errors is not None
        if any(c in execution_id for c in _UNSENDABLE) or execution_id in (".", ".."):
            raise PermanentSinkError(
                f"execution id {execution_id!r} cannot be named in a functions.invoke path"
                " (it holds '/', '?' or '#'); send it with HttpSink",
                execution_id=execution_id,
            )
        http_error, relay_error = self._errors
        try:
            answer = await self._client.functions.invoke(
                f"{self._function}/v2/executions/{execution_id}/logs",
                {"body": body, "headers": {"Content-Type": "application/json"}, "responseType": "json"},
            )
        except relay_error as exc:  # the platform could not reach the function
            raise TransientSinkError(f"{self._where(execution_id)}: relay error {exc}") from exc
        except http_error as exc:
            return getattr(exc, "status", 500), _answer_of(exc)
        except httpx.TransportError as exc:
            raise TransientSinkError(f"{self._where(execution_id)} failed: {exc!r}") from exc
        except ValueError as exc:  # a 2xx that is not JSON: not the function's answer
            raise TransientSinkError(f"{self._where(execution_id)}: the answer is not JSON") from exc
        return 200, answer


def _answer_of(exc: Exception) -> Any:
    """The function's JSON error body ({detail, request_id, code}) behind a FunctionsHttpError, whose own
    message only reads an `error` key."""
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    if isinstance(response, httpx.Response):
        try:
            return response.json()
        except ValueError:
            return response.text
    return str(exc)
