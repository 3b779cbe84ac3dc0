// An authorization server built from the official TypeScript SDK's own parts: its `mcpAuthRouter`
// (metadata, /authorize, /token, /register, /revoke) with the SDK's example provider,
// `DemoInMemoryAuthProvider`, which approves every authorization at once, and the introspection
// endpoint the SDK's example adds beside it. The target of `mcp-authlab run --as-url`. The SDK's
// per-endpoint rate limits (20 registrations an hour) are turned off, as one would for a test run:
// the battery registers a client per scenario. Run with:
//   node as.mjs
import { readFileSync } from 'node:fs';
import https from 'node:https';
import express from 'express';
import { mcpAuthRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { DemoInMemoryAuthProvider } from '@modelcontextprotocol/sdk/examples/server/demoInMemoryOAuthProvider.js';

const port = Number(process.env.PORT ?? 7444);
const certs = process.env.LAB_CERTS ?? new URL('../../certs/', import.meta.url).pathname;
const issuer = new URL(`https://127.0.0.1:${port}`);
// The MCP server the tokens are for: the SDK server of server.mjs.
const resource = new URL(process.env.RESOURCE ?? 'https://127.0.0.1:7443/mcp');

// `strictResource`, as the SDK's example offers it: only tokens for our MCP server.
const provider = new DemoInMemoryAuthProvider((requested) => requested?.toString() === resource.toString());
const app = express();
app.use(express.json());
app.use(express.urlencoded());
app.use(
  mcpAuthRouter({
    provider,
    issuerUrl: issuer,
    scopesSupported: ['mcp:read', 'mcp:write', 'mcp:admin'],
    authorizationOptions: { rateLimit: false },
    tokenOptions: { rateLimit: false },
    clientRegistrationOptions: { rateLimit: false },
    revocationOptions: { rateLimit: false },
  }),
);
// The SDK example's introspection endpoint, verbatim in behaviour.
app.post('/introspect', async (req, res) => {
  try {
    const { token } = req.body;
    if (!token) {
      res.status(400).json({ error: 'Token is required' });
      return;
    }
    const info = await provider.verifyAccessToken(token);
    res.json({ active: true, client_id: info.clientId, scope: info.scopes.join(' '), exp: info.expiresAt, aud: info.resource });
  } catch (error) {
    res.status(401).json({ active: false, error: 'Unauthorized', error_description: `Invalid token: ${error}` });
  }
});

https
  .createServer({ key: readFileSync(`${certs}/server-key.pem`), cert: readFileSync(`${certs}/server.pem`) }, app)
  .listen(port, '127.0.0.1', () => console.log(`TypeScript SDK authorization server on ${issuer.href}, for ${resource.href}`));
