//! The scenario file format: data, not code (design §4). `scenarios/README.md` documents every
//! field; `scenarios/schema.json` is generated from these types and kept fresh by a test.
//!
//! Unknown keys are errors (`deny_unknown_fields`), and a field that the step's action does not
//! use is an error too (see [`Step::unused_fields`]), so a typo never passes silently.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// One scenario file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// One line: what is attempted and what a defended target does.
    pub summary: String,
    /// Requirement keys of `requirements.md` (`O21 §4.1.1`, `RFC 9728 §3.3`, `MCP-1125`, `AS-07`).
    #[serde(default)]
    pub refs: Vec<String>,
    /// What the run must conclude: `defended`, or `vulnerable` under a weak profile.
    pub verdict: Verdict,
    /// How the lab is set up before the first step.
    #[serde(default)]
    pub lab: LabSetup,
    /// The steps, in order.
    #[serde(rename = "step")]
    pub steps: Vec<Step>,
}

/// A scenario's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Every attack step's `expect` held.
    Defended,
    /// An attack step's `expect` failed (and its `exploit`, if any, held).
    Vulnerable,
}

impl Verdict {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Defended => "defended",
            Self::Vulnerable => "vulnerable",
        }
    }
}

/// The lab a scenario starts with.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LabSetup {
    /// An authorization-server profile name (`conforming` unless set).
    pub as_profile: Option<String>,
    /// A resource-server profile name (`conforming` unless set).
    pub rs_profile: Option<String>,
    /// The user `/authorize` approves as without a login page; `alice` unless set.
    pub auto_approve: Option<String>,
    /// `true`: no headless approval, `/authorize` shows the login + consent page.
    #[serde(default)]
    pub interactive: bool,
    /// `jwt` (default) or `introspection`.
    pub verify: Option<String>,
    /// Callers without a token may use the public tools.
    #[serde(default)]
    pub anonymous_public: bool,
    /// `ES256` (default), `RS256`, `PS256` or `EdDSA`.
    pub signing_alg: Option<String>,
    /// `root` (default) or `tenant`: which issuer the resource servers trust.
    pub rs_issuer: Option<String>,
}

/// What a step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// `POST /register` (RFC 7591) with a public native client; `with` sets JSON members.
    Register,
    /// `GET /authorize` with a fresh PKCE S256 pair and state; `with`/`remove`/`add` edit the query.
    Authorize,
    /// `POST /token`, authorization-code grant with the captured code and verifier.
    Token,
    /// `POST /token`, refresh grant with the captured refresh token.
    Refresh,
    /// `POST /token`, client-credentials grant (the confidential lab client by default).
    ClientCredentials,
    /// `POST /revoke` (RFC 7009) of the captured access token.
    Revoke,
    /// `POST /introspect` (RFC 7662) as the resource server.
    Introspect,
    /// A JSON-RPC request to the MCP endpoint, in a session opened for the token.
    Mcp,
    /// A raw HTTP request: full control of method, URL, headers and body.
    Http,
    /// A forged token, stored in a variable.
    Forge,
    /// Moves the shared clock.
    Clock,
    /// Switches the authorization-server and/or resource-server profile.
    Profile,
    /// Runs the conforming client against a URL.
    Client,
    /// Lists the sockets listening on the MCP server's port (Linux, a server on this machine).
    Listeners,
}

impl Action {
    /// The name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authorize => "authorize",
            Self::Token => "token",
            Self::Refresh => "refresh",
            Self::ClientCredentials => "client-credentials",
            Self::Revoke => "revoke",
            Self::Introspect => "introspect",
            Self::Mcp => "mcp",
            Self::Http => "http",
            Self::Forge => "forge",
            Self::Clock => "clock",
            Self::Profile => "profile",
            Self::Client => "client",
            Self::Listeners => "listeners",
        }
    }

    /// The optional fields this action reads, besides the common ones.
    fn fields(self) -> &'static [&'static str] {
        const OAUTH: &[&str] = &["target", "with", "remove", "add", "headers", "basic"];
        match self {
            Self::Register => &["target", "with", "remove", "headers"],
            Self::Authorize
            | Self::Token
            | Self::Refresh
            | Self::ClientCredentials
            | Self::Revoke
            | Self::Introspect => OAUTH,
            Self::Mcp => &["target", "with", "headers", "tool", "args", "method", "token", "session"],
            Self::Http => &["method", "url", "headers", "form", "json", "body", "token"],
            Self::Forge => &["kind", "claims", "remove", "typ", "token", "into"],
            Self::Clock => &["advance"],
            Self::Profile => &["as", "rs"],
            Self::Client => {
                &["target", "url", "tool", "args", "user", "scope", "metadata_document", "client_id", "client_secret"]
            }
            Self::Listeners => &["target"],
        }
    }
}

/// How a token is forged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ForgeKind {
    /// Signed by the lab AS's real key: "right key, wrong claims".
    Resign,
    /// `alg: none`, empty signature, the AS's `kid`.
    None,
    /// `alg: HS256` keyed with the AS key's published `x` (EC, OKP) or `n` (RSA) member.
    Hs256,
    /// Signed by an attacker key under a `kid` the AS never published.
    UnknownKid,
    /// Signed by an attacker key under the AS's own `kid`.
    AttackerKey,
    /// Signed by an attacker key that is embedded in the header as `jwk`.
    EmbeddedJwk,
    /// Signed by an attacker key whose JWKS URL (the SSRF canary) is in the header as `jku`.
    Jku,
    /// Signed by an attacker key whose certificate URL (the SSRF canary) is in the header as `x5u`.
    X5u,
    /// The captured token with its payload edited and its signature kept.
    Tamper,
}

/// One step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// The action.
    #[serde(rename = "do")]
    pub action: Action,
    /// A label for reports; the action's name otherwise.
    pub name: Option<String>,
    /// This step's `expect` decides the verdict. Without any `attack = true` step, the last step
    /// is the attack.
    #[serde(default)]
    pub attack: bool,
    /// Which server: `as` (default for OAuth steps), `tenant` (the path issuer), `rs` (default for
    /// `mcp` and `client`), `twin`.
    pub target: Option<String>,
    /// Parameters to set: query or form parameters of OAuth steps, JSON members of `register`,
    /// the `params` of an `mcp` request that is not a tool call.
    #[serde(default)]
    pub with: BTreeMap<String, Value>,
    /// Parameters (or JSON members, or for `forge` claims) to leave out.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Extra `[name, value]` parameters, for repeated parameters.
    #[serde(default)]
    pub add: Vec<[String; 2]>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `[client_id, secret]` sent with HTTP Basic.
    pub basic: Option<[String; 2]>,
    /// `mcp` and `client`: the tool to call.
    pub tool: Option<String>,
    /// `mcp` and `client`: the tool's arguments.
    pub args: Option<Value>,
    /// `http`: the HTTP method (`GET` unless set). `mcp`: the JSON-RPC method (`tools/call` unless set).
    pub method: Option<String>,
    /// The bearer token to send (`${access_token}` unless set; `none` sends none). For `forge
    /// kind = "tamper"`, the token to tamper with.
    pub token: Option<String>,
    /// `mcp`: open a session first (default true); false sends the message alone.
    pub session: Option<bool>,
    /// `http` and `client`: the URL.
    pub url: Option<String>,
    /// `http`: a form body as `[name, value]` pairs.
    pub form: Option<Vec<[String; 2]>>,
    /// `http`: a JSON body.
    pub json: Option<Value>,
    /// `http`: a raw body.
    pub body: Option<String>,
    /// `forge`: how.
    pub kind: Option<ForgeKind>,
    /// `forge`: claims to set on top of a conforming token for alice (`remove` drops claims).
    pub claims: Option<BTreeMap<String, Value>>,
    /// `forge`: the `typ` header (`at+jwt` unless set).
    pub typ: Option<String>,
    /// `forge`: the variable that receives the token (`forged` unless set).
    pub into: Option<String>,
    /// `clock`: seconds to move the shared clock (negative moves it back).
    pub advance: Option<i64>,
    /// `profile`: the authorization-server profile to switch to.
    #[serde(rename = "as")]
    pub as_profile: Option<String>,
    /// `profile`: the resource-server profile to switch to.
    pub rs: Option<String>,
    /// `client`: sent as `login_hint`.
    pub user: Option<String>,
    /// `client`: the scope to ask for.
    pub scope: Option<String>,
    /// `client`: a client ID metadata document URL to use.
    pub metadata_document: Option<String>,
    /// `client`: a pre-registered client id.
    pub client_id: Option<String>,
    /// `client`: the pre-registered client's secret.
    pub client_secret: Option<String>,
    /// Run the step this many times (at most 200); expectations apply to the last run, except
    /// `session_ids`, which sees the ids of every run.
    pub repeat: Option<u32>,
    /// Variables to capture: `name = "json:/pointer"`, `"redirect:param"`, `"header:name"`, `"cookie:name"` (`name=value` of a `Set-Cookie`), `"html:field"` (a form field's value) or `"var:name"` (a value the step chose, such as its `challenge`).
    #[serde(default)]
    pub capture: BTreeMap<String, String>,
    /// What a defended (or, for setup steps, a working) target answers.
    #[serde(default)]
    pub expect: Expect,
    /// What a successful attack looks like; proves a `vulnerable` verdict is real.
    pub exploit: Option<Expect>,
}

impl Step {
    /// Fields that are set but mean nothing to this step's action.
    pub fn unused_fields(&self) -> Vec<&'static str> {
        let set: [(&'static str, bool); 24] = [
            ("target", self.target.is_some()),
            ("with", !self.with.is_empty()),
            ("remove", !self.remove.is_empty()),
            ("add", !self.add.is_empty()),
            ("headers", !self.headers.is_empty()),
            ("basic", self.basic.is_some()),
            ("tool", self.tool.is_some()),
            ("args", self.args.is_some()),
            ("method", self.method.is_some()),
            ("token", self.token.is_some()),
            ("session", self.session.is_some()),
            ("url", self.url.is_some()),
            ("form", self.form.is_some()),
            ("json", self.json.is_some()),
            ("body", self.body.is_some()),
            ("kind", self.kind.is_some()),
            ("claims", self.claims.is_some()),
            ("typ", self.typ.is_some()),
            ("into", self.into.is_some()),
            ("advance", self.advance.is_some()),
            ("as", self.as_profile.is_some()),
            ("rs", self.rs.is_some()),
            ("user", self.user.is_some() || self.scope.is_some() || self.metadata_document.is_some()),
            ("client_id", self.client_id.is_some() || self.client_secret.is_some()),
        ];
        let allowed = self.action.fields();
        set.into_iter().filter(|(name, is_set)| *is_set && !allowed.contains(name)).map(|(name, _)| name).collect()
    }

    /// The label for reports.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.action.name().to_owned())
    }
}

/// What a step must answer. Every string may use `${variables}`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The HTTP status.
    pub status: Option<u16>,
    /// One of these HTTP statuses.
    pub status_in: Option<Vec<u16>>,
    /// The OAuth error code: the redirect's `error`, else the JSON body's, else the challenge's.
    pub error: Option<String>,
    /// Headers that must equal these values (names are case-insensitive).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must contain these strings.
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Headers that must be absent.
    #[serde(default)]
    pub header_absent: Vec<String>,
    /// Parameters of the `Bearer` challenge in `WWW-Authenticate` that must equal these values.
    #[serde(default)]
    pub challenge: BTreeMap<String, String>,
    /// Parameters of the `Bearer` challenge that must be absent.
    #[serde(default)]
    pub challenge_absent: Vec<String>,
    /// Query parameters of the `Location` redirect that must equal these values.
    #[serde(default)]
    pub redirect: BTreeMap<String, String>,
    /// Query parameters of the `Location` redirect that must be absent.
    #[serde(default)]
    pub redirect_absent: Vec<String>,
    /// JSON pointers (RFC 6901) into the body that must equal these values.
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    /// JSON pointers that must be absent.
    #[serde(default)]
    pub json_absent: Vec<String>,
    /// JSON pointers whose string value must contain these strings.
    #[serde(default)]
    pub json_contains: BTreeMap<String, String>,
    /// Strings the body must contain.
    #[serde(default)]
    pub body_contains: Vec<String>,
    /// Strings that no byte of the body (or the headers) may contain: secrets, other users' data.
    #[serde(default)]
    pub body_not_contains: Vec<String>,
    /// The JSON-RPC error code of an `mcp` answer.
    pub rpc_error: Option<i64>,
    /// Whether an `mcp` tool result is a tool error (`isError`).
    pub tool_error: Option<bool>,
    /// A `client` step's outcome: `succeeded`, `refused`, `refused:CL-03`, or `failed`.
    pub client: Option<String>,
    /// The `MCP-Session-Id`s the step's runs were given (with `repeat`, one per run): how they
    /// must look (TR-1125 §Session Management, SBP Session Hijacking).
    pub session_ids: Option<SessionIds>,
}

/// Checks of a sample of session ids. The ids themselves never appear in a report.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionIds {
    /// Every run got an id, and every byte of every id is visible ASCII (`0x21`–`0x7E`).
    #[serde(default)]
    pub visible_ascii: bool,
    /// No id was issued twice.
    #[serde(default)]
    pub distinct: bool,
    /// The estimated entropy of the ids is at least this many bits.
    pub min_bits: Option<f64>,
    /// The estimated entropy of the ids is at most this many bits (an exploit: they can be guessed).
    pub max_bits: Option<f64>,
}

impl Expect {
    /// Whether nothing is expected.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.status_in.is_none()
            && self.error.is_none()
            && self.headers.is_empty()
            && self.header_contains.is_empty()
            && self.header_absent.is_empty()
            && self.challenge.is_empty()
            && self.challenge_absent.is_empty()
            && self.redirect.is_empty()
            && self.redirect_absent.is_empty()
            && self.json.is_empty()
            && self.json_absent.is_empty()
            && self.json_contains.is_empty()
            && self.body_contains.is_empty()
            && self.body_not_contains.is_empty()
            && self.rpc_error.is_none()
            && self.tool_error.is_none()
            && self.client.is_none()
            && self.session_ids.is_none()
    }
}
