// An MCP server written the way the official TypeScript SDK's documentation shows: Express, the
// Streamable HTTP transport, the SDK's `requireBearerAuth` middleware and its metadata router,
// trusting the MCP Auth Lab authorization server, with sessions kept as in the SDK's README and its
// `simpleStreamableHttp` example (a transport per session, an in-memory event store for
// resumability, the example's 404 and 400 answers). Left out of the example, as the battery does
// not touch them: its cap of 1000 sessions, its idle-session reaping, its JSON-RPC 500 on a thrown
// error, and `createMcpExpressApp()` (its Host check is the lab's own rule, `dns-rebinding-host`). Access tokens are checked with `jose` against the lab's JWKS (issuer, audience and
// the RFC 9068 `typ`), as a careful developer would; every other behaviour is the SDK's default.
// Run with:
//   NODE_EXTRA_CA_CERTS=../../certs/ca.pem node server.mjs
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import express from 'express';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { z } from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';

const issuer = process.env.LAB_ISSUER ?? 'https://127.0.0.1:9443';
const port = Number(process.env.PORT ?? 7443);
const certs = process.env.LAB_CERTS ?? new URL('../../certs/', import.meta.url).pathname;
const resource = new URL(`https://127.0.0.1:${port}/mcp`);
const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));

const verifier = {
  async verifyAccessToken(token) {
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer, audience: resource.href, typ: 'at+jwt' });
      return {
        token,
        clientId: String(payload.client_id ?? ''),
        scopes: String(payload.scope ?? '').split(' ').filter(Boolean),
        expiresAt: payload.exp,
        resource,
      };
    } catch (error) {
      throw new InvalidTokenError(error.message);
    }
  },
};

function buildServer() {
  const server = new McpServer({ name: 'ts-sdk-interop', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes a message', inputSchema: { message: z.string() } }, async ({ message }) => ({
    content: [{ type: 'text', text: message }],
  }));
  return server;
}

const app = express();
app.use(express.json());
app.use(
  mcpAuthMetadataRouter({
    oauthMetadata: {
      issuer,
      authorization_endpoint: `${issuer}/authorize`,
      token_endpoint: `${issuer}/token`,
      registration_endpoint: `${issuer}/register`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    },
    resourceServerUrl: resource,
    scopesSupported: ['mcp:read'],
    resourceName: 'TypeScript SDK interop server',
  }),
);
const auth = requireBearerAuth({ verifier, resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(resource), expectedResource: resource });
// The sessions, by id, as the SDK's example keeps them (not bound to the user: the example does
// not, and neither does this server, so the battery judges what an SDK user gets).
const transports = new Map();
const sessionNotFound = { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null };

app.post('/mcp', auth, async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  if (sessionId) {
    const transport = transports.get(sessionId);
    if (!transport) return res.status(404).json(sessionNotFound);
    return transport.handleRequest(req, res, req.body);
  }
  if (!isInitializeRequest(req.body)) {
    return res
      .status(400)
      .json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    eventStore: new InMemoryEventStore(),
    onsessioninitialized: (id) => transports.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) transports.delete(transport.sessionId);
  };
  await buildServer().connect(transport);
  await transport.handleRequest(req, res, req.body);
});
// A session's SSE stream (resumable with Last-Event-ID) and its end, as the example serves them.
const sessionRequest = async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  if (!sessionId) return res.status(400).send('Missing session ID');
  const transport = transports.get(sessionId);
  if (!transport) return res.status(404).json(sessionNotFound);
  await transport.handleRequest(req, res);
};
app.get('/mcp', auth, sessionRequest);
app.delete('/mcp', auth, sessionRequest);

https
  .createServer({ key: readFileSync(`${certs}/server-key.pem`), cert: readFileSync(`${certs}/server.pem`) }, app)
  .listen(port, '127.0.0.1', () => console.log(`TypeScript SDK server on ${resource.href}, trusting ${issuer}`));
