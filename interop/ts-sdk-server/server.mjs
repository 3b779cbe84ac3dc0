// An MCP server written the way the official TypeScript SDK's documentation shows: Express, the
// Streamable HTTP transport, the SDK's `requireBearerAuth` middleware and its metadata router,
// trusting the MCP Auth Lab authorization server. Access tokens are checked with `jose` against
// the lab's JWKS (issuer, audience and the RFC 9068 `typ`), as a careful developer would; every
// other behaviour is the SDK's default. Run with:
//   NODE_EXTRA_CA_CERTS=../../certs/ca.pem node server.mjs
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
app.post('/mcp', auth, async (req, res) => {
  // Stateless, as in the SDK's example: a server and a transport per request.
  const server = buildServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => {
    transport.close();
    server.close();
  });
  await server.connect(transport);
  await transport.handleRequest(req, res, req.body);
});
app.get('/mcp', auth, (_req, res) => res.status(405).set('Allow', 'POST').end());
app.delete('/mcp', auth, (_req, res) => res.status(405).set('Allow', 'POST').end());

https
  .createServer({ key: readFileSync(`${certs}/server-key.pem`), cert: readFileSync(`${certs}/server.pem`) }, app)
  .listen(port, '127.0.0.1', () => console.log(`TypeScript SDK server on ${resource.href}, trusting ${issuer}`));
