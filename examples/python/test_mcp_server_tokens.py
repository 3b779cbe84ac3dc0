"""How an MCP server treats tokens it must refuse, tested with `mcp-authlab up --control`.

A test suite of your own, in the shape pytest collects (it is also plain `unittest`, so it runs
on Python 3 with nothing but the standard library):

    mcp-authlab up --control &                 # in the project folder: writes certs/
    python3 -m pytest examples/python          # or: python3 -m unittest discover examples/python

It starts nothing itself. It reads the control API's secret from `certs/control-token`, asks the
lab's authorization server for exactly the tokens it needs (one that expired, one for another
audience, one whose `typ` is not `at+jwt`, each correctly signed), and sends each to the MCP
server under test, which must answer 401 (MCP 2025-11-25, Authorization: "Invalid or expired
tokens MUST receive a HTTP 401 response"; RFC 9068 §4 for the audience and `typ`).

The server under test is the lab's own resource server unless `MCP_SERVER_URL` names yours; yours
must trust the lab's authorization server (its issuer and JWKS, printed by `mcp-authlab up`).

Environment (all optional):
    MCP_AUTHLAB_CONTROL_URL   the control API (default https://127.0.0.1:9447)
    MCP_AUTHLAB_CERTS         the lab's certificate folder (default certs): ca.pem, control-token
    MCP_SERVER_URL            the MCP endpoint under test (default: the lab's resource server)
    MCP_SERVER_AUDIENCE       the audience its tokens carry (default: MCP_SERVER_URL)
"""

import json
import os
import ssl
import unittest
import urllib.error
import urllib.request

CERTS = os.environ.get("MCP_AUTHLAB_CERTS", "certs")
CONTROL = os.environ.get("MCP_AUTHLAB_CONTROL_URL", "https://127.0.0.1:9447").rstrip("/")
TIMEOUT = 10  # seconds, for every request


def _tls():
    return ssl.create_default_context(cafile=os.path.join(CERTS, "ca.pem"))


def _secret():
    with open(os.path.join(CERTS, "control-token"), encoding="ascii") as file:
        return file.read().strip()


def control(method, path, body=None):
    """Calls the control API and returns its JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(CONTROL + path, data=data, method=method)
    request.add_header("authorization", "Bearer " + _secret())
    if data is not None:
        request.add_header("content-type", "application/json")
    with urllib.request.urlopen(request, context=_tls(), timeout=TIMEOUT) as response:
        return json.load(response)


def mcp_status(url, token):
    """The HTTP status the MCP server answers an `initialize` that carries `token`."""
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "example-pytest", "version": "0"},
        },
    }
    request = urllib.request.Request(url, data=json.dumps(message).encode(), method="POST")
    request.add_header("authorization", "Bearer " + token)
    request.add_header("content-type", "application/json")
    request.add_header("accept", "application/json, text/event-stream")
    try:
        with urllib.request.urlopen(request, context=_tls(), timeout=TIMEOUT) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class TokensTheServerMustRefuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        lab = control("GET", "/")
        cls.server = os.environ.get("MCP_SERVER_URL", lab["resource"])
        cls.audience = os.environ.get("MCP_SERVER_AUDIENCE", cls.server)
        cls.elsewhere = lab["twin_resource"]

    def token(self, **overrides):
        """A token for the server under test, with `overrides` on top (see the README)."""
        return control("POST", "/tokens", {"aud": self.audience, **overrides})["access_token"]

    def test_a_good_token_is_served(self):
        # Without this, a server that refuses everything would pass every test below. Only the
        # token is judged: a server of MCP 2026-07-28 alone may refuse `initialize` itself (400),
        # but not with 401 or 403.
        self.assertNotIn(mcp_status(self.server, self.token()), (401, 403))

    def test_an_expired_token_is_refused(self):
        # An hour past `exp`: far beyond any clock-skew leeway.
        self.assertEqual(mcp_status(self.server, self.token(exp="-3600")), 401)

    def test_a_token_for_another_audience_is_refused(self):
        self.assertEqual(mcp_status(self.server, self.token(aud=self.elsewhere)), 401)

    def test_a_token_whose_typ_is_not_at_jwt_is_refused(self):
        self.assertEqual(mcp_status(self.server, self.token(typ="JWT")), 401)


if __name__ == "__main__":
    unittest.main()
