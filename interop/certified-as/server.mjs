// An MCP authorization server built from an OpenID Certified provider: panva's `oidc-provider`
// (pinned in package.json and package-lock.json), configured the way the MCP authorization spec
// (2025-11-25, "MCP-1125" in /work/shared/docs/requirements.md) asks of an AS, and nothing more.
// It is a target of `mcp-authlab run --as-url https://127.0.0.1:7444`; see ../README.md.
//
// Every choice below names the sentence it follows. Where oidc-provider's default already does
// what the spec asks, the default is kept and the comment says so, so that what is measured is
// the certified provider, not our code. Our own code is only: the two resource servers, the two
// pre-registered clients, the accounts, and the login/consent pages (oidc-provider leaves the
// user interface to the host application; its `devInteractions` accept any user name without a
// password, so they are replaced by pages that check one).

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

import Provider, { errors } from 'oidc-provider';

const here = path.dirname(fileURLToPath(import.meta.url));
const certs = process.env.CERTS_DIR ?? path.join(here, '..', '..', 'certs');
const HOST = '127.0.0.1';
const PORT = Number(process.env.PORT ?? 7444);

// RFC 8414 §2: `issuer` is an https URL with no query or fragment; the runner checks that the
// metadata names exactly the URL it was given (RFC 8414 §3.3), so pass `--as-url` without a
// trailing slash.
const ISSUER = `https://${HOST}:${PORT}`;

// The protected resources this AS issues tokens for (RFC 8707 §2: the resource indicator is the
// absolute URI of the resource server; MCP-1125 §Canonical Server URI: the MCP server's URI).
// The second one lets the audience-per-resource scenarios ask for a token for another server.
const RESOURCES = ['https://127.0.0.1:7443/mcp', 'https://127.0.0.1:7445/mcp'];
const MCP_SCOPES = ['mcp:read', 'mcp:write', 'mcp:admin'];

// The accounts the login page accepts. The lab's headless sign-in uses alice:
// `MCP_AUTHLAB_PASSWORD=alice-pass mcp-authlab run --as-url … --login alice`.
const ACCOUNTS = {
  alice: process.env.ALICE_PASSWORD ?? 'alice-pass',
  bob: process.env.BOB_PASSWORD ?? 'bob-pass',
};

// The pre-registered clients, for `--client-id` and `--confidential-client`.
const PUBLIC_CLIENT_ID = 'mcp-public-client';
const CONFIDENTIAL_CLIENT_ID = 'mcp-confidential-client';
const CONFIDENTIAL_CLIENT_SECRET = process.env.MCP_AUTHLAB_CLIENT_SECRET ?? 'certified-as-confidential-secret-0123456789';
const REDIRECT_URI = 'http://127.0.0.1:53682/callback'; // the runner's (RFC 8252 §7.3 loopback)

// Signing keys, made at start (the AS keeps no state across restarts, so neither do its keys):
// ES256 for the access tokens, RS256 for ID tokens (OpenID Connect Core §15.1 makes RS256 the
// mandatory-to-implement algorithm, and oidc-provider's default for ID tokens).
function jwk(type, options, alg) {
  const { privateKey } = crypto.generateKeyPairSync(type, options);
  const key = privateKey.export({ format: 'jwk' });
  return { ...key, alg, use: 'sig', kid: crypto.randomBytes(8).toString('hex') };
}
const jwks = {
  keys: [jwk('rsa', { modulusLength: 2048 }, 'RS256'), jwk('ec', { namedCurve: 'P-256' }, 'ES256')],
};

const configuration = {
  jwks,

  // Cookie signing keys for the session and interaction cookies (fresh per start).
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },

  // The users. Only known accounts exist (the login page has checked the password already).
  async findAccount(_ctx, id) {
    if (!Object.hasOwn(ACCOUNTS, id)) return undefined;
    return { accountId: id, async claims() { return { sub: id }; } };
  },

  clients: [
    {
      // A public client (RFC 6749 §2.1; O21 §2.1): no secret, `token_endpoint_auth_method: none`
      // (RFC 7591 §2), the authorization-code grant with PKCE and refresh tokens, for the
      // runner's loopback redirect URI.
      client_id: PUBLIC_CLIENT_ID,
      token_endpoint_auth_method: 'none',
      application_type: 'native',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      scope: ['openid', 'offline_access', ...MCP_SCOPES].join(' '),
    },
    {
      // A confidential client authenticating with HTTP Basic (RFC 6749 §2.3.1, `client_secret_basic`),
      // allowed the authorization-code and client-credentials grants, as `--confidential-client`
      // expects. Its secret comes from MCP_AUTHLAB_CLIENT_SECRET, the variable the runner reads.
      client_id: CONFIDENTIAL_CLIENT_ID,
      client_secret: CONFIDENTIAL_CLIENT_SECRET,
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
      redirect_uris: [REDIRECT_URI],
      grant_types: ['authorization_code', 'refresh_token', 'client_credentials'],
      response_types: ['code'],
      scope: ['openid', 'offline_access', ...MCP_SCOPES].join(' '),
    },
  ],

  // Only the authorization-code flow: OAuth 2.1 drops the implicit grant (O21 §10), and MCP-1125
  // §Authorization Code Protection uses the code flow with PKCE. `none` is kept out too.
  responseTypes: ['code'],

  // PKCE S256 for every client, public and confidential (MCP-1125 §Authorization Code
  // Protection: "MCP clients MUST implement PKCE"; O21 §4.1.2.1: the AS "MUST reject requests
  // without a code_challenge from public clients, and MUST reject such requests from other
  // clients unless there is reasonable assurance that the client mitigates authorization code
  // injection in other ways"; O21 §7.5.1.1; BCP §2.1.1; RFC 7636 §4.4.1). oidc-provider's
  // default requires it of public clients only; this requires it of all. oidc-provider 9 supports only S256
  // (`code_challenge_methods_supported: ["S256"]`; `plain` is refused), as O21 §4.1.1 recommends.
  pkce: { required: () => true },

  // Scopes advertised in `scopes_supported` (RFC 8414 §2) and allowed to clients: OpenID's
  // `openid` and `offline_access` (OpenID Connect Core §11), and the MCP server's scopes. A
  // client registered with a `scope` (RFC 7591 §2) may request only those.
  scopes: ['openid', 'offline_access', ...MCP_SCOPES],

  // Refresh tokens (O21 §4.3; RFC 6749 §6). For OpenID requests, OpenID Connect Core §11 ties
  // them to `offline_access` (oidc-provider's default). An MCP client makes plain OAuth requests
  // (no `openid` scope) and asks for a refresh token by registering the `refresh_token` grant
  // (RFC 7591 §2 `grant_types`), so such a client gets one then too; O21 §4.3 leaves issuing a
  // refresh token to the AS.
  async issueRefreshToken(_ctx, client, code) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return code.scopes.has('offline_access') || !code.scopes.has('openid');
  },

  // Refresh token rotation for every client, on every use (O21 §4.3.1: "Authorization servers
  // MUST utilize one of these methods to detect refresh token replay by malicious actors for
  // public clients": sender-constrained refresh tokens or rotation; BCP §2.2.2, §4.14.2). oidc-provider
  // detects reuse itself: a rotated-out refresh token presented again gets `invalid_grant` and
  // revokes the whole grant (BCP §4.14.2).
  rotateRefreshToken: () => true,

  ttl: {
    AccessToken: 600, // short-lived access tokens (BCP §2.2.2; MCP-1125 §Token Theft)
    AuthorizationCode: 60, // O21 §4.1.2: "A maximum authorization code lifetime of 10 minutes is RECOMMENDED"
    RefreshToken: 24 * 60 * 60,
    ClientCredentials: 600,
    Interaction: 600,
    Session: 3600,
    Grant: 24 * 60 * 60,
    IdToken: 600,
  },

  // Our own login and consent pages, below (devInteractions are off).
  interactions: {
    url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
  },

  features: {
    // Off: they accept any user name with any password (see the top of this file).
    devInteractions: { enabled: false },

    // RFC 8707 resource indicators, required of clients by MCP-1125 §Resource Parameter
    // Implementation. Each known resource gets RFC 9068 JWT access tokens (`typ: at+jwt`,
    // `iss`, `sub`, `aud` = the resource, `client_id`, `scope`, `exp`, `iat`, `jti`) signed ES256,
    // carrying only that resource's scopes, so an MCP server can validate the audience
    // (MCP-1125 §Token Audience Binding and Validation). An unknown resource gets `invalid_target`
    // (RFC 8707 §2: "the authorization server SHOULD reject the request with the error code
    // invalid_target" when it does not recognise the resource).
    resourceIndicators: {
      enabled: true,
      // RFC 8707 §2: "If the client omits the resource parameter when requesting authorization,
      // the authorization server MAY process the request with no specific resource or by using a
      // pre-defined default resource value." This AS uses the first MCP server as the default.
      // (Requiring `resource` is the lab's own rule, not the RFC's.)
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? RESOURCES[0],
      // A token request without `resource` gets the resource granted at the authorization
      // endpoint (RFC 8707 §2.2 makes `resource` at the token endpoint optional).
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, resourceIndicator, _client) {
        if (!RESOURCES.includes(resourceIndicator)) throw new errors.InvalidTarget();
        return {
          scope: MCP_SCOPES.join(' '),
          audience: resourceIndicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt', // RFC 9068
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },

    // RFC 7591 dynamic client registration, open (no initial access token: RFC 7591 §3 "the
    // authorization server MAY allow open registration"), as MCP-1125 §Dynamic Client
    // Registration asks for clients that are not known in advance. oidc-provider also issues the
    // RFC 7592 `registration_access_token` and `registration_client_uri` (its default), with which
    // a client reads its own registration.
    registration: { enabled: true, initialAccessToken: false },

    // RFC 7662 token introspection. Public clients may introspect only their own tokens
    // (oidc-provider's default policy). Note: oidc-provider stores opaque tokens only; an RFC 9068
    // JWT access token is self-contained and is not stored, so introspecting one answers
    // `{"active": false}` (RFC 7662 §2.2 allows an AS to answer inactive for a token it cannot
    // vouch for). Resource servers validate these tokens with the JWKS instead.
    introspection: { enabled: true },

    // RFC 7009 token revocation. Revoking a refresh token revokes its grant (RFC 7009 §2.1: the
    // AS SHOULD also invalidate the access tokens of the same grant; oidc-provider's default).
    // JWT access tokens are not stored, so revoking one cannot stop it before it expires.
    revocation: { enabled: true },

    // The client-credentials grant for the confidential client (RFC 6749 §4.4; O21 §4.2).
    // Left as oidc-provider does it, on purpose: with open registration, a client may register
    // itself with `token_endpoint_auth_method: none`, `grant_types: ["client_credentials"]` and
    // `response_types: []`, and then get an access token for an MCP resource without any
    // authentication, although "the client credentials grant type MUST only be used by
    // confidential clients" (O21 §4.2, RFC 6749 §4.4). A real finding for the battery to catch
    // (see ../README.md); a deployment would refuse that registration in
    // `extraClientMetadata.validator` or a registration policy.
    clientCredentials: { enabled: true },

    // RFC 9207 `iss` in authorization responses: always on in oidc-provider 9, which also
    // publishes `authorization_response_iss_parameter_supported: true` (RFC 9207 §3).
  },

  // RFC 8414 metadata: oidc-provider 9 serves the same document at
  // /.well-known/oauth-authorization-server (RFC 8414 §3) and /.well-known/openid-configuration
  // (OpenID Connect Discovery §4), so no route of our own is needed. MCP-1125 §Authorization
  // Server Metadata Discovery tries both.
};

const provider = new Provider(ISSUER, configuration);

// --- Login and consent pages -------------------------------------------------------------------
// Plain HTML forms, no JavaScript: a login form (user name and password, "Sign in"), then a
// consent form ("Approve", and a separate "Deny" form). The interaction cookie oidc-provider sets
// binds the page to the browser that started the authorization request.

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res, status, title, body) {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  // Clickjacking: these pages must not be framed (O21 §7.11 "Authorization servers MUST prevent
  // clickjacking attacks"; RFC 6749 §10.13; BCP §4.16).
  res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
  res.end(`<!doctype html><html><head><title>${escape(title)}</title></head><body><h1>${escape(title)}</h1>${body}</body></html>`);
}

async function readForm(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > 16 * 1024) throw new Error('form too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function passwordMatches(user, password) {
  if (!Object.hasOwn(ACCOUNTS, user)) return false;
  const a = crypto.createHash('sha256').update(ACCOUNTS[user]).digest();
  const b = crypto.createHash('sha256').update(password ?? '').digest();
  return crypto.timingSafeEqual(a, b);
}

function loginForm(uid, clientId, message) {
  return `${message ? `<p>${escape(message)}</p>` : ''}
<p>Sign in to continue to ${escape(clientId)}.</p>
<form method="post" action="/interaction/${escape(uid)}/login">
  <label>User name <input type="text" name="username" autocomplete="username"></label>
  <label>Password <input type="password" name="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>`;
}

async function interaction(req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) return page(res, 400, 'Error', '<p>This sign-in has expired.</p>');
  const { prompt, params, session } = details;

  if (req.method === 'GET' && !action) {
    if (prompt.name === 'login') return page(res, 200, 'Sign in', loginForm(uid, params.client_id));
    if (prompt.name === 'consent') {
      const scopes = [...new Set(String(params.scope ?? '').split(' ').filter(Boolean))];
      return page(res, 200, 'Authorize', `
<p>${escape(params.client_id)} asks to access ${escape(params.resource ?? RESOURCES[0])} as ${escape(session?.accountId)} with: ${scopes.map(escape).join(', ') || '(no scope)'}.</p>
<form method="post" action="/interaction/${escape(uid)}/confirm"><button type="submit">Approve</button></form>
<form method="post" action="/interaction/${escape(uid)}/abort"><button type="submit">Deny</button></form>`);
    }
    return page(res, 501, 'Error', '<p>Unsupported prompt.</p>');
  }

  if (req.method !== 'POST') return page(res, 405, 'Error', '<p>Method not allowed.</p>');
  const form = await readForm(req);

  if (action === 'login' && prompt.name === 'login') {
    const user = form.get('username') ?? '';
    if (!passwordMatches(user, form.get('password'))) {
      return page(res, 401, 'Sign in', loginForm(uid, params.client_id, 'Wrong user name or password.'));
    }
    return provider.interactionFinished(req, res, { login: { accountId: user } }, { mergeWithLastSubmission: false });
  }

  if (action === 'confirm' && prompt.name === 'consent') {
    // Grant what was asked and is missing, as oidc-provider's own consent page does: the OpenID
    // scopes, and for each requested resource its scopes (already limited to the resource's).
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    const { missingOIDCScope, missingOIDCClaims, missingResourceScopes } = prompt.details;
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    if (missingOIDCClaims) grant.addOIDCClaims(missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missingResourceScopes ?? {})) {
      grant.addResourceScope(indicator, scopes.join(' '));
    }
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }

  if (action === 'abort') {
    // RFC 6749 §4.1.2.1: the resource owner denied the request.
    return provider.interactionFinished(req, res, {
      error: 'access_denied',
      error_description: 'End-User denied the request',
    }, { mergeWithLastSubmission: false });
  }

  return page(res, 400, 'Error', '<p>Unexpected form.</p>');
}

const callback = provider.callback();
const server = https.createServer({
  cert: fs.readFileSync(path.join(certs, 'server.pem')),
  key: fs.readFileSync(path.join(certs, 'server-key.pem')),
}, async (req, res) => {
  const url = new URL(req.url, ISSUER);
  const match = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/.exec(url.pathname);
  if (!match) return callback(req, res);
  try {
    await interaction(req, res, match[1], match[2]);
  } catch (error) {
    if (!res.headersSent) {
      const status = error instanceof errors.SessionNotFound ? 400 : 500;
      page(res, status, 'Error', `<p>${escape(error.error_description ?? error.message ?? 'error')}</p>`);
    }
  }
});

server.listen(PORT, HOST, () => {
  console.log(`certified-as (oidc-provider) at ${ISSUER}`);
  console.log(`  public client        ${PUBLIC_CLIENT_ID}  (redirect URI ${REDIRECT_URI})`);
  console.log(`  confidential client  ${CONFIDENTIAL_CLIENT_ID}  (secret from MCP_AUTHLAB_CLIENT_SECRET, or the default in server.mjs)`);
  console.log(`  resources            ${RESOURCES.join(' ')}`);
});

process.on('SIGTERM', () => server.close(() => process.exit(0)));
