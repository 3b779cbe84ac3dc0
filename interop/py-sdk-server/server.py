# An MCP server written the way the official Python SDK's documentation shows for a resource
# server (`mcp` 2.3.0: `MCPServer` with a `token_verifier` and `AuthSettings`), trusting the MCP
# Auth Lab authorization server, over the SDK's Streamable HTTP transport. Access tokens are JWTs
# from the lab AS, checked with PyJWT against the lab's JWKS; every other behaviour is the SDK's
# default. The target of `mcp-authlab run --rs-url https://127.0.0.1:7443/mcp`. Run with:
#   python server.py
# from a venv made with `pip install --require-hashes -r requirements.txt`. It reads the lab's
# certificates from ../../certs (or $LAB_CERTS): server.pem and server-key.pem to serve TLS, and
# ca.pem to trust the AS when it fetches the JWKS. $PORT (7443) and $LAB_ISSUER can be changed.
#
# What is the SDK's and what is this file's:
# - The SDK gives the bearer middleware (`BearerAuthBackend`, `RequireAuthMiddleware`: 401 without
#   a valid token, 403 `insufficient_scope` without a required scope, the `WWW-Authenticate`
#   challenge with `resource_metadata`), the RFC 9728 protected resource metadata at
#   `/.well-known/oauth-protected-resource/mcp` (`authorization_servers` = `issuer_url`,
#   `scopes_supported` = `required_scopes`), the Streamable HTTP transport with sessions
#   (`stateless_http=False`, SSE answers: `json_response=False`), and the DNS-rebinding protection
#   it turns on by itself for a server bound to 127.0.0.1 (allowed hosts `127.0.0.1:*`,
#   `localhost:*`, `[::1]:*`). All of these are left as they are.
# - The SDK checks no token itself: a `TokenVerifier` is the application's. This one is the
#   careful developer's, as in the TypeScript interop server: signature by the AS's JWKS
#   (PyJWT's `PyJWKClient`, its default caching), algorithm pinned to the lab AS's ES256,
#   `iss` = the lab issuer, `aud` = this server's resource URL, `exp` (and `nbf`/`iat` when
#   present, PyJWT's default), and the RFC 9068 `typ` `at+jwt`.
# - `required_scopes`: the SDK's default is none (`None`); its documentation's example sets one
#   (`["user"]`), so this server requires the scope the lab AS grants, `mcp:read`, which the SDK
#   then also advertises as `scopes_supported`.
# - `validate_token_resource`: unset is the SDK's default today (it warns, and behaves as False;
#   the warning says 3.0 makes True the default). It is set to True here, as the warning advises,
#   with `AccessToken.resource` the audience the verifier accepted, so the SDK's own check agrees.
# - TLS: `MCPServer.run()` takes no certificate, so the SDK's app (`streamable_http_app()`) is
#   served by uvicorn (the server `run()` uses) with the lab's certificate, on 127.0.0.1 only.
import logging
import os
import ssl
from pathlib import Path

import anyio.to_thread
import jwt
import uvicorn
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer

ISSUER = os.environ.get("LAB_ISSUER", "https://127.0.0.1:9443")
PORT = int(os.environ.get("PORT", "7443"))
CERTS = Path(os.environ.get("LAB_CERTS", Path(__file__).resolve().parent.parent.parent / "certs"))
RESOURCE = f"https://127.0.0.1:{PORT}/mcp"
SCOPE = "mcp:read"

log = logging.getLogger("py-sdk-interop")


class JwtTokenVerifier(TokenVerifier):
    """Checks an RFC 9068 JWT access token against the lab AS's JWKS."""

    def __init__(self) -> None:
        # The JWKS is fetched over TLS from the lab AS, whose certificate the lab CA signs.
        context = ssl.create_default_context(cafile=str(CERTS / "ca.pem"))
        self._jwks = jwt.PyJWKClient(f"{ISSUER}/jwks", ssl_context=context)

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            # PyJWKClient fetches with urllib, which blocks: off the event loop.
            key = await anyio.to_thread.run_sync(self._jwks.get_signing_key_from_jwt, token)
            decoded = jwt.decode_complete(
                token,
                key=key,
                algorithms=["ES256"],
                issuer=ISSUER,
                audience=RESOURCE,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            log.info("token refused: %s", type(error).__name__)
            return None
        if str(decoded["header"].get("typ", "")).lower() not in ("at+jwt", "application/at+jwt"):
            log.info("token refused: typ is not at+jwt")
            return None
        claims = decoded["payload"]
        return AccessToken(
            token=token,
            client_id=str(claims.get("client_id", "")),
            scopes=str(claims.get("scope", "")).split(),
            expires_at=claims.get("exp"),
            # PyJWT has checked that `aud` is (or contains) this server's URL.
            resource=RESOURCE,
            subject=claims.get("sub"),
            claims={"iss": claims.get("iss")},
        )


mcp = MCPServer(
    "Python SDK interop server",
    token_verifier=JwtTokenVerifier(),
    auth=AuthSettings(
        # Strings, not `AnyHttpUrl(...)` as in the SDK's documentation: pydantic's `AnyHttpUrl()`
        # adds a `/` to a path-less URL, and `https://127.0.0.1:9443/` is not the lab's issuer
        # (RFC 8414 compares issuers as strings); `AuthSettings` keeps a string as written.
        issuer_url=ISSUER,
        resource_server_url=RESOURCE,
        required_scopes=[SCOPE],
        validate_token_resource=True,
    ),
)


@mcp.tool()
def echo(message: str) -> str:
    """Echoes a message."""
    return message


@mcp.tool()
def add(a: int, b: int) -> int:
    """Adds two numbers."""
    return a + b


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    # The SDK's defaults for Streamable HTTP: path /mcp, sessions, SSE answers, host 127.0.0.1
    # (which turns its DNS-rebinding protection on).
    app = mcp.streamable_http_app()
    print(f"Python SDK server on {RESOURCE}, trusting {ISSUER}", flush=True)
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=PORT,
        ssl_certfile=str(CERTS / "server.pem"),
        ssl_keyfile=str(CERTS / "server-key.pem"),
        log_level="info",
    )
