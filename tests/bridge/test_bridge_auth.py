"""Who may do what, on every endpoint: owner, other user, anon, service role, and every kind of bad token."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import httpx
import jwt
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric import rsa

READS = [
    "/api/v1/app/executions/{id}/logs",
    "/v2/workflows/executions/{id}/logs",
    "/v2/executions/{id}/logs/summary",
    "/api/v1/app/executions/{id}/logs/summary",
    "/api/v1/app/executions/{id}/logs/stream",
    "/v2/executions/{id}/logs/stream",
    "/api/v1/app/executions/recent_logs?workflow_id={workflow}",
    "/api/v1/app/workflows/{workflow}/logs",
    "/v2/workflows/{workflow}/logs",
    "/api/v1/app/workflows/{workflow}/logs?q=log",
    "/api/v1/app/workflows/{workflow}/stats",
    "/v2/workflows/{workflow}/stats",
]
POST = "/v2/executions/{id}/logs"
EVERY_ENDPOINT = [("GET", p) for p in READS] + [("POST", POST)]


def url_of(path: str, world) -> str:
    return path.format(id=world.finished, workflow=world.workflow_id)


async def call(client: httpx.AsyncClient, method: str, path: str, world, headers: dict | None = None,
               params: dict | None = None) -> httpx.Response:
    """One request; streams of a finished execution end by themselves, so a plain GET reads them whole."""
    body = [{"event_type": "step_output", "message": "auth matrix"}] if method == "POST" else None
    with anyio.fail_after(15):
        return await client.request(method, url_of(path, world), headers=headers, params=params, json=body)


def b64(obj: dict | bytes) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims(sub: str | None, **extra) -> dict:
    now = int(time.time())
    body = {"role": "authenticated", "aud": "authenticated", "iat": now, "exp": now + 600}
    if sub:
        body["sub"] = sub
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def bad_tokens(world) -> dict[str, tuple[str, str]]:
    """name -> (token, a word the 401's detail must contain)."""
    secret = world.secret
    return {
        "expired": (jwt.encode(claims(world.owner, exp=int(time.time()) - 120), secret, "HS256"), "expired"),
        "wrong_secret": (jwt.encode(claims(world.owner), "not-the-secret" * 4, "HS256"), "signature"),
        "alg_none": (b64({"alg": "none", "typ": "JWT"}) + "." + b64(claims(world.owner)) + ".", "alg none"),
        "wrong_audience": (jwt.encode(claims(world.owner, aud="someone-else"), secret, "HS256"), "audience"),
        "garbage": ("this-is-not-a-jwt", "malformed"),
        "missing_sub": (jwt.encode(claims(None), secret, "HS256"), "sub"),
        "missing_exp": (jwt.encode(claims(world.owner, exp=None), secret, "HS256"), "exp"),
        "unknown_role": (jwt.encode(claims(world.owner, role="postgres"), secret, "HS256"), "role"),
        "hs512": (jwt.encode(claims(world.owner), secret, "HS512"), "algorithm"),
        "rs256_without_jwks": (
            jwt.encode(claims(world.owner), rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
            "JWKS",
        ),
    }


BAD = ["expired", "wrong_secret", "alg_none", "wrong_audience", "garbage", "missing_sub", "missing_exp",
       "unknown_role", "hs512", "rs256_without_jwks"]


# =============================================================================================
# The matrix
# =============================================================================================
@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
async def test_no_token_is_401_with_a_reason(client, world, method, path):
    r = await call(client, method, path, world)
    assert r.status_code == 401, r.text[:300]
    assert "missing token" in r.json()["detail"]
    assert r.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
@pytest.mark.parametrize("kind", BAD)
async def test_bad_token_is_401_with_a_clear_reason(client, world, method, path, kind):
    token, reason = bad_tokens(world)[kind]
    r = await call(client, method, path, world, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, (kind, r.text[:300])
    assert reason.lower() in r.json()["detail"].lower(), (kind, r.json())
    assert "logs" not in r.json()


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Token abc"])
async def test_malformed_authorization_header_is_401(client, world, header):
    r = await call(client, "GET", READS[0], world, headers={"Authorization": header})
    assert r.status_code == 401, r.text[:300]
    assert "authorization" in r.json()["detail"].lower()


@pytest.mark.parametrize("path", READS)
async def test_owner_reads_every_endpoint(client, world, path):
    r = await call(client, "GET", path, world, headers=world.auth("owner"))
    assert r.status_code == 200, r.text[:300]
    if "/stream" in path:
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.text.count('"event_type":"LOG"') == 250
        assert '"event_type":"COMPLETE"' in r.text
    else:
        assert world.finished in r.text or world.workflow_id in r.text


@pytest.mark.parametrize("path", READS)
async def test_other_user_gets_404_and_never_the_data(client, world, path):
    r = await call(client, "GET", path, world, headers=world.auth("other"))
    assert r.status_code == 404, r.text[:300]
    assert '"logs"' not in r.text and "log 1" not in r.text
    assert not r.headers["content-type"].startswith("text/event-stream")


@pytest.mark.parametrize(("method", "path"), EVERY_ENDPOINT)
async def test_anon_token_gets_no_data(client, world, method, path):
    r = await call(client, method, path, world, headers=world.auth("anon"))
    assert r.status_code in (403, 404), r.text[:300]
    assert '"logs"' not in r.text and "log 1" not in r.text


@pytest.mark.parametrize("path", READS)
async def test_service_token_can_read(client, world, path):
    r = await call(client, "GET", path, world, headers=world.auth("service"))
    assert r.status_code == 200, r.text[:300]
    if "/stats" in path:
        assert r.json()["runs"]["total"] == 2  # the finished and the running execution
    else:
        assert "log 1" in r.text


@pytest.mark.parametrize("who", ["owner", "other"])
async def test_authenticated_user_cannot_post_logs(client, world, scratch, who):
    execution_id = await scratch.execution()
    r = await client.post(
        f"/v2/executions/{execution_id}/logs", json=[{"event_type": "step_output", "message": "forged"}],
        headers=world.auth(who),
    )
    assert r.status_code == 403, r.text[:300]
    assert "service role" in r.json()["detail"]
    assert await scratch.seqs(execution_id) == []


# =============================================================================================
# ?access_token= (EventSource) and log hygiene
# =============================================================================================
@pytest.mark.parametrize("family", ["/v2/executions/{id}/logs/stream", "/api/v1/app/executions/{id}/logs/stream"])
async def test_stream_accepts_the_token_as_access_token_query(client, world, family, read_sse):
    reader = await read_sse(client, family.format(id=world.finished), params={"access_token": world.token()})
    assert reader.status_code == 200
    assert reader.seqs == world.finished_seqs
    assert reader.complete["data"]["message"] == "Historical logs retrieved"


async def test_access_token_query_with_a_bad_token_is_401(client, world):
    token, _ = bad_tokens(world)["expired"]
    r = await client.get(f"/v2/executions/{world.finished}/logs/stream", params={"access_token": token})
    assert r.status_code == 401
    assert "expired" in r.json()["detail"]


async def test_tokens_never_appear_in_the_server_log(bridge, client, world, read_sse):
    good = world.token()
    expired, _ = bad_tokens(world)["expired"]
    forged, _ = bad_tokens(world)["wrong_secret"]
    await read_sse(client, f"/v2/executions/{world.finished}/logs/stream", params={"access_token": good})
    await client.get(f"/v2/executions/{world.finished}/logs/stream", params={"access_token": expired})
    await client.get(f"/v2/executions/{world.finished}/logs/stream", params={"access_token": forged})
    await client.get(f"/api/v1/app/executions/{world.finished}/logs", params={"access_token": good, "level": "LOUD"})
    await client.get("/no/such/route", params={"access_token": good})
    await client.get(f"/v2/workflows/executions/{world.finished}/logs", headers={"Authorization": f"Bearer {good}"})
    await anyio.sleep(0.3)  # let the access log lines reach the file
    log = bridge.log_text()
    assert '"msg": "request"' in log and f"/v2/executions/{world.finished}/logs/stream" in log  # we see the log
    for token in (good, expired, forged):
        assert token not in log
        assert token.split(".")[2] not in log  # not even the signature


# =============================================================================================
# Asymmetric keys from a JWKS URL
# =============================================================================================
class _JwksHandler(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def rsa_keys():
    return {
        "trusted": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "stranger": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


@pytest.fixture(scope="module")
def jwks_url(rsa_keys):
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_keys["trusted"].public_key()))
    jwk.update({"kid": "test-key-1", "use": "sig", "alg": "RS256"})
    handler = type("Handler", (_JwksHandler,), {"body": json.dumps({"keys": [jwk]}).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/auth/v1/.well-known/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def jwks_bridge(start_bridge, database_url, jwks_url):
    async with start_bridge(database_url, SUPABASE_JWKS_URL=jwks_url) as server:
        yield server


def rs256(key, world, kid: str = "test-key-1", **extra) -> str:
    return jwt.encode(claims(world.owner, **extra), key, "RS256", headers={"kid": kid})


async def test_rs256_token_from_the_jwks_is_accepted(jwks_bridge, world, rsa_keys):
    async with httpx.AsyncClient(base_url=jwks_bridge.url, timeout=15) as c:
        r = await c.get(f"/v2/workflows/executions/{world.finished}/logs",
                        headers={"Authorization": f"Bearer {rs256(rsa_keys['trusted'], world)}"})
        assert r.status_code == 200, r.text[:300]
        assert r.json()["total_count"] == 250
        # HS256 tokens still work next to the JWKS.
        r = await c.get(f"/v2/workflows/executions/{world.finished}/logs", headers=world.auth())
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("stranger_same_kid", "signature"), ("stranger_unknown_kid", "signing key"), ("expired", "expired"),
     ("wrong_audience", "audience")],
)
async def test_rs256_token_not_from_the_jwks_is_401(jwks_bridge, world, rsa_keys, kind, reason):
    token = {
        "stranger_same_kid": lambda: rs256(rsa_keys["stranger"], world),
        "stranger_unknown_kid": lambda: rs256(rsa_keys["stranger"], world, kid=str(uuid.uuid4())),
        "expired": lambda: rs256(rsa_keys["trusted"], world, exp=int(time.time()) - 120),
        "wrong_audience": lambda: rs256(rsa_keys["trusted"], world, aud="elsewhere"),
    }[kind]()
    async with httpx.AsyncClient(base_url=jwks_bridge.url, timeout=15) as c:
        r = await c.get(f"/v2/workflows/executions/{world.finished}/logs", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401, r.text[:300]
    assert reason in r.json()["detail"], r.json()


async def test_rs256_token_when_the_jwks_cannot_be_fetched_is_503_not_401(start_bridge, database_url, world, rsa_keys):
    from bridge_process import free_port

    dead = f"http://127.0.0.1:{free_port()}/auth/v1/.well-known/jwks.json"  # nothing listens there
    async with start_bridge(database_url, SUPABASE_JWKS_URL=dead) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=15) as c:
            r = await c.get(f"/v2/workflows/executions/{world.finished}/logs",
                            headers={"Authorization": f"Bearer {rs256(rsa_keys['trusted'], world)}"})
    assert r.status_code == 503, r.text[:300]
    assert r.headers["Retry-After"]
    assert "JWKS" in r.json()["detail"]


# =============================================================================================
# Access revoked while a stream is open
# =============================================================================================
async def _transfer(admin_pool, execution_id: str, to_user: str) -> str:
    """Move the execution to a new workflow of `to_user` (the owner loses access)."""
    async with admin_pool.acquire() as conn:
        workflow_id = await conn.fetchval(
            "insert into public.workflows (user_id, name) values ($1, 'taken over') returning id", to_user
        )
        await conn.execute(
            "update public.workflow_executions set workflow_id = $2 where execution_id = $1", execution_id, workflow_id
        )
    return str(workflow_id)


async def test_stream_after_access_is_revoked_then_it_ends_with_an_error_and_no_new_logs(
    client, world, scratch, admin_pool, open_sse
):
    execution_id = await scratch.execution(logs=3)
    async with open_sse(client, f"/v2/executions/{execution_id}/logs/stream", token=world.token()) as reader:
        await reader.wait_until(lambda r: len(r.logs) == 3)
        await _transfer(admin_pool, execution_id, world.other)
        await scratch.append(execution_id, 2, prefix="secret")
        await reader.wait_ended(10)
    assert not any("secret" in e["data"]["message"] for e in reader.logs)
    assert reader.complete["event_type"] == "ERROR"
    assert reader.complete["data"]["error_type"] == "access_revoked"


async def test_stream_after_access_is_revoked_sends_no_new_logs_even_when_another_viewer_keeps_watching(
    client, world, scratch, admin_pool, open_sse
):
    """The shared read runs as one subscriber; a user who lost access must not ride on another's rights."""
    execution_id = await scratch.execution(logs=3)
    path = f"/v2/executions/{execution_id}/logs/stream"
    async with open_sse(client, path, token=world.token()) as owner, \
            open_sse(client, path, token=world.token("service")) as service:
        await owner.wait_until(lambda r: len(r.logs) == 3)
        await service.wait_until(lambda r: len(r.logs) == 3)
        await _transfer(admin_pool, execution_id, world.other)
        appended = await scratch.append(execution_id, 2, prefix="secret")
        await service.wait_seq(appended["last_seq"])  # the service role may still read them
        with anyio.move_on_after(3):
            await owner.wait_ended(3)
    leaked = [e["data"]["seq"] for e in owner.logs if "secret" in e["data"]["message"]]
    assert not leaked, f"logs {leaked} reached a user who can no longer see the execution"
