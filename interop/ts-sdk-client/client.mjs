// An MCP client written the way the official TypeScript SDK's OAuth example shows: an in-memory
// OAuthClientProvider, the Streamable HTTP transport, `finishAuth(code)` after the redirect, then
// a tool listing. The authorization URL is fetched without following redirects (the lab approves
// headlessly with `--auto-approve alice`), and the code is taken from the callback URL exactly as
// the SDK's example takes it from its callback server. Run with the MCP URL as the last argument:
//   NODE_EXTRA_CA_CERTS=certs/ca.pem node client.mjs https://127.0.0.1:8443/mcp
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const serverUrl = new URL(process.argv[process.argv.length - 1]);
const redirectUrl = 'http://127.0.0.1:53682/callback';

class InMemoryProvider {
  constructor() {
    this.savedTokens = undefined;
    this.info = undefined;
    this.verifier = undefined;
    this.code = undefined;
  }
  get redirectUrl() {
    return redirectUrl;
  }
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK interop client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info) {
    this.info = info;
  }
  tokens() {
    return this.savedTokens;
  }
  saveTokens(tokens) {
    this.savedTokens = tokens;
  }
  saveCodeVerifier(verifier) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  async redirectToAuthorization(authorizationUrl) {
    console.log(`authorization URL: ${authorizationUrl.origin}${authorizationUrl.pathname}`);
    const response = await fetch(authorizationUrl, { redirect: 'manual' });
    const location = response.headers.get('location');
    if (!location) {
      throw new Error(`the authorization server answered ${response.status} without a redirect`);
    }
    this.code = new URL(location).searchParams.get('code') ?? undefined;
  }
}

const provider = new InMemoryProvider();
const client = new Client({ name: 'ts-sdk-interop-client', version: '1.0.0' });
let transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
try {
  await client.connect(transport);
} catch (error) {
  if (!(error instanceof UnauthorizedError) || !provider.code) {
    console.error(`failed: ${error.message}`);
    process.exit(1);
  }
  await transport.finishAuth(provider.code);
  transport = new StreamableHTTPClientTransport(serverUrl, { authProvider: provider });
  await client.connect(transport);
}
try {
  const tools = await client.listTools();
  console.log(`connected; ${tools.tools.length} tools`);
  const protectedTool = tools.tools.find((tool) => tool.name === 'list_orders');
  if (protectedTool) {
    const result = await client.callTool({ name: 'list_orders', arguments: {} });
    console.log(`list_orders: isError=${result.isError}`);
  }
  await client.close();
} catch (error) {
  console.error(`failed after connecting: ${error.message}`);
  process.exit(1);
}
