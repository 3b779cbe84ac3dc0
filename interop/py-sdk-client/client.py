"""An MCP client written the way the official Python SDK's OAuth example shows: an
`OAuthClientProvider` with in-memory token storage, the Streamable HTTP transport, a redirect
handler and a callback handler; then a tool listing and a protected tool call.

The authorization URL is fetched without following redirects (the lab approves headlessly with
`--auto-approve alice`), and the code, state and `iss` are taken from the redirect exactly as the
SDK's example takes them from its callback server. The lab CA comes from `MCP_AUTHLAB_CA` (which
`check-client` sets) or `SSL_CERT_FILE`. Run with the MCP URL as the last argument:

    MCP_AUTHLAB_CA=certs/ca.pem python client.py https://127.0.0.1:8443/mcp
"""

import asyncio
import os
import ssl
import sys
from urllib.parse import parse_qs, urlparse

import httpx2
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

REDIRECT_URI = "http://127.0.0.1:53682/callback"


class InMemoryStorage:
    """The SDK's `TokenStorage` protocol, kept in memory for one run."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


async def main(server_url: str) -> int:
    ca = os.environ.get("MCP_AUTHLAB_CA") or os.environ.get("SSL_CERT_FILE")
    tls = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    redirect: dict[str, str] = {}

    async def redirect_handler(authorization_url: str) -> None:
        parsed = urlparse(authorization_url)
        print(f"authorization URL: {parsed.scheme}://{parsed.netloc}{parsed.path}")
        async with httpx2.AsyncClient(verify=tls, follow_redirects=False, timeout=30) as http:
            response = await http.get(authorization_url)
        location = response.headers.get("location")
        if not location:
            raise RuntimeError(f"the authorization server answered {response.status_code} without a redirect")
        redirect.update({name: values[0] for name, values in parse_qs(urlparse(location).query).items()})

    async def callback_handler() -> AuthorizationCodeResult:
        if "code" not in redirect:
            raise RuntimeError(f"the authorization server redirected without a code: {sorted(redirect)}")
        return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

    provider = OAuthClientProvider(
        server_url=server_url,
        client_metadata=OAuthClientMetadata(
            client_name="Python SDK interop client",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",
        ),
        storage=InMemoryStorage(),
        redirect_handler=redirect_handler,
        callback_handler=callback_handler,
    )
    timeout = httpx2.Timeout(30, read=60)
    async with httpx2.AsyncClient(auth=provider, verify=tls, timeout=timeout) as http:
        async with Client(streamable_http_client(server_url, http_client=http)) as client:
            tools = await client.list_tools()
            print(f"connected; {len(tools.tools)} tools")
            if any(tool.name == "list_orders" for tool in tools.tools):
                result = await client.call_tool("list_orders", {})
                print(f"list_orders: isError={result.is_error}")
                if result.is_error:
                    return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main(sys.argv[-1])))
    except Exception as error:  # the run's outcome, in one line, for check-client's log
        print(f"failed: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
