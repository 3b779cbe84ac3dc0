// How an MCP server treats tokens it must refuse, tested with `mcp-authlab up --control`.
//
// A test file of your own for Node's built-in runner (Node 18 or later, no packages):
//
//     mcp-authlab up --control &                 # in the project folder: writes certs/
//     node --test examples/node/*.test.mjs
//
// It starts nothing itself. It reads the control API's secret from `certs/control-token`, asks
// the lab's authorization server for exactly the tokens it needs (one that expired, one for
// another audience, one whose `typ` is not `at+jwt`, each correctly signed), and sends each to
// the MCP server under test, which must answer 401 (MCP 2025-11-25, Authorization: "Invalid or
// expired tokens MUST receive a HTTP 401 response"; RFC 9068 §4 for the audience and `typ`).
//
// The server under test is the lab's own resource server unless MCP_SERVER_URL names yours;
// yours must trust the lab's authorization server (its issuer and JWKS, printed by `lab up`).
//
// Environment (all optional): MCP_AUTHLAB_CONTROL_URL (default https://127.0.0.1:9447),
// MCP_AUTHLAB_CERTS (default certs), MCP_SERVER_URL, MCP_SERVER_AUDIENCE.

import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";

const certs = process.env.MCP_AUTHLAB_CERTS ?? "certs";
const controlUrl = (process.env.MCP_AUTHLAB_CONTROL_URL ?? "https://127.0.0.1:9447").replace(/\/$/, "");
const ca = readFileSync(join(certs, "ca.pem"));
const secret = () => readFileSync(join(certs, "control-token"), "ascii").trim();

// One HTTPS request trusting the lab CA, bounded at 10 s; resolves to { status, body }.
function send(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { method, headers, ca, timeout: 10_000 }, (response) => {
      const chunks = [];
      response.on("data", (chunk) => chunks.push(chunk));
      response.on("end", () => resolve({ status: response.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    outgoing.on("timeout", () => outgoing.destroy(new Error(`${method} ${url} timed out`)));
    outgoing.on("error", reject);
    outgoing.end(body);
  });
}

async function control(method, path, body) {
  const headers = { authorization: `Bearer ${secret()}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const answer = await send(controlUrl + path, method, headers, body === undefined ? undefined : JSON.stringify(body));
  assert.equal(answer.status, 200, `${method} ${path}: ${answer.body}`);
  return JSON.parse(answer.body);
}

// The HTTP status the MCP server answers an `initialize` that carries `token`.
async function mcpStatus(url, token) {
  const message = {
    jsonrpc: "2.0",
    id: 1,
    method: "initialize",
    params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "example-node", version: "0" } },
  };
  const headers = {
    authorization: `Bearer ${token}`,
    "content-type": "application/json",
    accept: "application/json, text/event-stream",
  };
  return (await send(url, "POST", headers, JSON.stringify(message))).status;
}

describe("tokens the MCP server must refuse", () => {
  let server, audience, elsewhere;
  before(async () => {
    const lab = await control("GET", "/");
    server = process.env.MCP_SERVER_URL ?? lab.resource;
    audience = process.env.MCP_SERVER_AUDIENCE ?? server;
    elsewhere = lab.twin_resource;
  });
  const token = async (overrides = {}) => (await control("POST", "/tokens", { aud: audience, ...overrides })).access_token;

  // Without this, a server that refuses everything would pass every test below. Only the token is
  // judged: a server of MCP 2026-07-28 alone may refuse `initialize` itself (400), not with 401/403.
  test("a good token is served", async () => {
    const status = await mcpStatus(server, await token());
    assert.ok(status !== 401 && status !== 403, `the good token was refused with ${status}`);
  });
  // An hour past `exp`: far beyond any clock-skew leeway.
  test("an expired token is refused", async () => assert.equal(await mcpStatus(server, await token({ exp: "-3600" })), 401));
  test("a token for another audience is refused", async () =>
    assert.equal(await mcpStatus(server, await token({ aud: elsewhere })), 401));
  test("a token whose typ is not at+jwt is refused", async () =>
    assert.equal(await mcpStatus(server, await token({ typ: "JWT" })), 401));
});
