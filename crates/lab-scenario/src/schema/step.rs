//! A step: the fields every action has ([`Step`]), and the action with exactly its own fields
//! ([`StepAction`], one struct per action).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use lab_auth_server::AsProfile;
use lab_mcp_server::RsProfile;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::{AsTarget, Expect, RsTarget, named};

/// One step: the fields every action has, and the action with its own fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct Step {
    /// A label for reports; the action's name otherwise.
    pub name: Option<String>,
    /// This step's `expect` decides the verdict. Without any `attack = true` step, the last step
    /// is the attack.
    #[serde(default)]
    pub attack: bool,
    /// Run the step this many times (1 to 200); expectations apply to the last run, except
    /// `session_ids`, which sees the ids of every run.
    #[serde(default, deserialize_with = "repeat")]
    pub repeat: Option<u32>,
    /// Variables to capture: `name = "json:/pointer"`, `"redirect:param"`, `"header:name"`, `"cookie:name"` (`name=value` of a `Set-Cookie`), `"html:field"` (a form field's value) or `"var:name"` (a value the step chose, such as its `challenge`).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub capture: BTreeMap<String, Capture>,
    /// What a defended (or, for setup steps, a working) target answers.
    #[serde(default)]
    pub expect: Expect,
    /// What a successful attack looks like; proves a `vulnerable` verdict is real.
    pub exploit: Option<Expect>,
    /// What a SHOULD of the specification asks of the answer: a miss is an `advisory` finding,
    /// never a failed defence.
    pub should: Option<Expect>,
    /// An answer that shows the target does not offer what the scenario tests (a `405` to a
    /// DELETE that would end a session): when it holds, the scenario is not applicable.
    pub not_applicable_if: Option<Expect>,
    /// What the lab's own servers answer beyond what any specification demands (its wording, its
    /// choice among allowed answers): held against the lab only, never against a third party.
    pub lab_only: Option<Expect>,
    /// The action (`do`) and the fields it reads.
    ///
    /// The one `#[serde(flatten)]` of the project, against the style anchors' rule, on purpose:
    /// it lets the common fields keep their exact spans while the tagged enum gives each action a
    /// struct of its own, which is what makes a field the action ignores an error. The cost the
    /// rule warns of (an error inside the action's fields is reported on the whole step, without
    /// its field) is paid back in `load.rs`, which finds the field and its line; its tests hold
    /// every such error to naming the file, the line and the field.
    #[serde(flatten)]
    pub action: StepAction,
}

fn repeat<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    match Option::<u32>::deserialize(deserializer)? {
        Some(times) if !(1..=200).contains(&times) => Err(serde::de::Error::custom("repeat must be between 1 and 200")),
        times => Ok(times),
    }
}

impl Step {
    /// The label for reports.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.action.name().to_owned())
    }

    /// Every expectation of the step: `expect`, and if set `exploit`, `should` and `lab_only`.
    pub fn expectations(&self) -> impl Iterator<Item = &Expect> + Clone {
        self.held_against_anyone().chain(self.lab_only.as_ref())
    }

    /// The expectations a third-party target may be held to: all but `lab_only`. What only the
    /// lab is held to says nothing of whether a scenario applies to someone else's server.
    pub fn held_against_anyone(&self) -> impl Iterator<Item = &Expect> + Clone {
        std::iter::once(&self.expect).chain(self.exploit.as_ref()).chain(self.should.as_ref())
    }

    /// The variables this step sets from the answer it is judged on: its captures (but `var:`,
    /// which copies a value the step chose) and what its action keeps of the answer. An
    /// expectation comparing the answer with one of these compares it with itself.
    pub fn answer_vars(&self) -> Vec<&str> {
        let captured = self
            .capture
            .iter()
            .filter(|(_, capture)| !matches!(capture, Capture::Var(_)))
            .map(|(name, _)| name.as_str());
        captured.chain(self.action.answer_vars().iter().copied()).collect()
    }

    /// Every string of the step that may name `${variables}`, expectations held against anyone
    /// included (not `lab_only`): what applicability reads instead of the step's `Debug` text.
    pub fn texts(&self) -> Vec<&str> {
        let mut texts = self.action.texts();
        for expect in self.held_against_anyone() {
            texts.extend(expect.texts());
        }
        texts
    }

    /// The `${variables}` the step names anywhere.
    pub fn variables(&self) -> Vec<&str> {
        self.texts().into_iter().flat_map(variables_in).collect()
    }

    /// Whether the step names `${name}` anywhere.
    pub fn uses_variable(&self, name: &str) -> bool {
        self.variables().contains(&name)
    }
}

/// The `${name}`s in `text`.
pub fn variables_in(text: &str) -> impl Iterator<Item = &str> {
    text.split("${").skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
}

/// Every string inside a JSON value, for [`Step::texts`].
pub(crate) fn json_texts<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(text) => out.push(text),
        Value::Array(items) => items.iter().for_each(|item| json_texts(item, out)),
        Value::Object(members) => members.values().for_each(|item| json_texts(item, out)),
        _ => {}
    }
}

/// What a step does: `do = "…"` and the fields that action reads.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "do", rename_all = "kebab-case")]
pub enum StepAction {
    /// `POST /register` (RFC 7591) with a public native client; `with` sets JSON members.
    Register(Register),
    /// `GET /authorize` with a fresh PKCE S256 pair and state; `with`/`remove`/`add` edit the query.
    Authorize(OAuth),
    /// `POST /token`, authorization-code grant with the captured code and verifier.
    Token(OAuth),
    /// `POST /token`, refresh grant with the captured refresh token.
    Refresh(OAuth),
    /// `POST /token`, client-credentials grant (the confidential lab client by default).
    ClientCredentials(OAuth),
    /// `POST /revoke` (RFC 7009) of the captured access token.
    Revoke(OAuth),
    /// `POST /introspect` (RFC 7662) as the resource server.
    Introspect(OAuth),
    /// A JSON-RPC request to the MCP endpoint, in a session opened for the token.
    Mcp(Mcp),
    /// A raw HTTP request: full control of method, URL, headers and body.
    Http(Http),
    /// A forged token, stored in a variable.
    Forge(Forge),
    /// Moves the shared clock.
    Clock(Clock),
    /// Switches the authorization-server and/or resource-server profile.
    Profile(ProfileSwitch),
    /// Runs the conforming client against a URL.
    Client(ClientRun),
    /// Lists the sockets listening on the MCP server's port (Linux, a server on this machine).
    Listeners(Listeners),
}

impl StepAction {
    /// The name as written in files.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Register(_) => "register",
            Self::Authorize(_) => "authorize",
            Self::Token(_) => "token",
            Self::Refresh(_) => "refresh",
            Self::ClientCredentials(_) => "client-credentials",
            Self::Revoke(_) => "revoke",
            Self::Introspect(_) => "introspect",
            Self::Mcp(_) => "mcp",
            Self::Http(_) => "http",
            Self::Forge(_) => "forge",
            Self::Clock(_) => "clock",
            Self::Profile(_) => "profile",
            Self::Client(_) => "client",
            Self::Listeners(_) => "listeners",
        }
    }

    /// The fields of an OAuth endpoint step, if this is one.
    pub fn oauth(&self) -> Option<&OAuth> {
        match self {
            Self::Authorize(step)
            | Self::Token(step)
            | Self::Refresh(step)
            | Self::ClientCredentials(step)
            | Self::Revoke(step)
            | Self::Introspect(step) => Some(step),
            _ => None,
        }
    }

    /// The authorization server the step talks to, for the steps that talk to one.
    pub fn as_target(&self) -> Option<AsTarget> {
        match self {
            Self::Register(step) => Some(step.target),
            other => other.oauth().map(|step| step.target),
        }
    }

    /// The resource server the step talks to, for the steps that talk to one.
    pub fn rs_target(&self) -> Option<RsTarget> {
        match self {
            Self::Mcp(step) => Some(step.target),
            Self::Client(step) => Some(step.target),
            Self::Listeners(step) => Some(step.target),
            _ => None,
        }
    }

    /// The request headers the step sets, where it may set any.
    pub fn headers(&self) -> Option<&BTreeMap<String, String>> {
        match self {
            Self::Register(step) => Some(&step.headers),
            Self::Mcp(step) => Some(&step.headers),
            Self::Http(step) => Some(&step.headers),
            other => other.oauth().map(|step| &step.headers),
        }
    }

    /// The `with` parameters, where the action has them.
    pub fn with(&self) -> Option<&BTreeMap<String, Value>> {
        match self {
            Self::Register(step) => Some(&step.with),
            Self::Mcp(step) => Some(&step.with),
            other => other.oauth().map(|step| &step.with),
        }
    }

    /// The variables the action itself sets from the answer (not those it chooses, such as the
    /// `state` and PKCE pair of `authorize`, which the answer may legitimately be compared with).
    pub fn answer_vars(&self) -> &'static [&'static str] {
        match self {
            Self::Register(_) => &["client_id", "client_secret"],
            Self::Authorize(_) => &["code"],
            Self::Token(_) | Self::Refresh(_) | Self::ClientCredentials(_) => &["access_token", "refresh_token"],
            _ => &[],
        }
    }

    /// Every string the action's fields hold.
    fn texts(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let Some(headers) = self.headers() {
            out.extend(headers.values().map(String::as_str));
        }
        if let Some(with) = self.with() {
            with.values().for_each(|value| json_texts(value, &mut out));
        }
        match self {
            Self::Register(_) => {}
            Self::Authorize(step)
            | Self::Token(step)
            | Self::Refresh(step)
            | Self::ClientCredentials(step)
            | Self::Revoke(step)
            | Self::Introspect(step) => {
                out.extend(step.add.iter().map(|[_, value]| value.as_str()));
                out.extend(step.basic.iter().flatten().map(String::as_str));
            }
            Self::Mcp(step) => {
                out.extend(step.token.as_deref());
                if let Some(args) = &step.args {
                    json_texts(args, &mut out);
                }
            }
            Self::Http(step) => {
                out.push(&step.url);
                out.extend(step.token.as_deref());
                out.extend(step.body.as_deref());
                out.extend(step.form.iter().flatten().map(|[_, value]| value.as_str()));
                if let Some(json) = &step.json {
                    json_texts(json, &mut out);
                }
            }
            Self::Forge(step) => {
                out.extend(step.token.as_deref());
                step.claims.values().for_each(|value| json_texts(value, &mut out));
            }
            Self::Client(step) => {
                out.extend(step.url.as_deref());
                out.extend(step.metadata_document.as_deref());
                out.extend(step.client_id.as_deref());
                out.extend(step.client_secret.as_deref());
                if let Some(args) = &step.args {
                    json_texts(args, &mut out);
                }
            }
            Self::Clock(_) | Self::Profile(_) | Self::Listeners(_) => {}
        }
        out
    }
}

/// `register`'s fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
    /// `as` (default) or `tenant` (the path issuer).
    #[serde(default)]
    pub target: AsTarget,
    /// JSON members of the registration request to set.
    #[serde(default)]
    pub with: BTreeMap<String, Value>,
    /// JSON members to leave out.
    #[serde(default)]
    pub remove: Vec<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// The fields of the OAuth endpoint steps (`authorize`, `token`, `refresh`,
/// `client-credentials`, `revoke`, `introspect`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuth {
    /// `as` (default) or `tenant` (the path issuer).
    #[serde(default)]
    pub target: AsTarget,
    /// Query or form parameters to set.
    #[serde(default)]
    pub with: BTreeMap<String, Value>,
    /// Parameters to leave out.
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
    /// `authorize` against a third-party AS run with `--login`: `false` stops at its first page
    /// with a form (its login page, following its own redirects) instead of signing in, so the
    /// page itself is judged.
    pub sign_in: Option<bool>,
}

/// `mcp`'s fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mcp {
    /// `rs` (default) or `twin`.
    #[serde(default)]
    pub target: RsTarget,
    /// The `params` of a request that is not a tool call.
    #[serde(default)]
    pub with: BTreeMap<String, Value>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The tool to call.
    pub tool: Option<String>,
    /// The tool's arguments.
    pub args: Option<Value>,
    /// The JSON-RPC method (`tools/call` unless set).
    pub method: Option<String>,
    /// The bearer token to send (`${access_token}` unless set; `none` sends none).
    pub token: Option<String>,
    /// Open a session first (default true); false sends the message alone.
    pub session: Option<bool>,
    /// `2026-07-28`: a stateless request of that revision (no session; `_meta`, and the
    /// `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` headers from the body, which
    /// `headers` may override to disagree with it).
    pub revision: Option<super::Revision>,
    /// The client capabilities a 2026-07-28 request declares in `_meta` (`{"elicitation": {}}`
    /// unless set).
    pub capabilities: Option<Value>,
}

impl Mcp {
    /// The JSON-RPC method.
    pub fn method(&self) -> &str {
        self.method.as_deref().unwrap_or("tools/call")
    }

    /// Whether a third-party MCP server gets another request in its place: a tool call or an
    /// `initialize` that names no revision stands for "any request" there (the lab shop's tools
    /// are not its), sent as `ping` or `initialize` at 2025-11-25 and as a list request at
    /// 2026-07-28.
    pub fn stands_for_any_request(&self) -> bool {
        self.revision.is_none() && ["tools/call", "initialize"].contains(&self.method())
    }

    /// Whether the message goes in a session opened for it (never at 2026-07-28, which has none).
    pub fn in_session(&self) -> bool {
        self.session != Some(false) && self.revision.is_none()
    }
}

/// `http`'s fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// The HTTP method (`GET` unless set); any token RFC 9110 §9.1 allows, checked when read.
    #[serde(default, deserialize_with = "http_method")]
    pub method: Option<String>,
    /// The URL.
    pub url: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A form body as `[name, value]` pairs.
    pub form: Option<Vec<[String; 2]>>,
    /// A JSON body.
    pub json: Option<Value>,
    /// A raw body.
    pub body: Option<String>,
    /// A bearer token to send.
    pub token: Option<String>,
}

/// An HTTP method as a token (RFC 9110 §5.6.2), so that the runner never meets one it cannot send.
fn http_method<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let method = Option::<String>::deserialize(deserializer)?;
    match method {
        Some(name) if reqwest::Method::from_bytes(name.as_bytes()).is_err() => {
            Err(serde::de::Error::custom(format!("`{name}` is not an HTTP method")))
        }
        method => Ok(method),
    }
}

/// `forge`'s fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Forge {
    /// How.
    pub kind: ForgeKind,
    /// Claims to set on top of a conforming token for alice (`null` drops a claim).
    #[serde(default)]
    pub claims: BTreeMap<String, Value>,
    /// For `kind = "resign"`: JOSE header members to add to the AS's `alg`, `typ` and `kid`
    /// (`crit` naming an extension no one supports, say).
    #[serde(default)]
    pub header: BTreeMap<String, Value>,
    /// For `kind = "none"`: how `alg` is spelled (`none` unless set), since a verifier that
    /// refuses `none` may still take `NONE`.
    pub alg: Option<String>,
    /// Claims to drop.
    #[serde(default)]
    pub remove: Vec<String>,
    /// The `typ` header (`at+jwt` unless set).
    pub typ: Option<String>,
    /// For `kind = "resign"`: no `typ` header at all (TOML has no `null` to say it with `typ`).
    #[serde(default)]
    pub omit_typ: bool,
    /// For `kind = "tamper"`: the token to tamper with (`${access_token}` unless set).
    pub token: Option<String>,
    /// The variable that receives the token (`forged` unless set).
    pub into: Option<String>,
    /// `exp` as seconds from now (negative: already expired), so that expiry is tested on a
    /// server that does not share the lab's clock.
    pub exp_in: Option<i64>,
    /// `nbf` as seconds from now (positive: not yet valid).
    pub nbf_in: Option<i64>,
    /// `iat` as seconds from now.
    pub iat_in: Option<i64>,
}

/// `clock`'s fields.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Seconds to move the shared clock (negative moves it back).
    pub advance: i64,
}

/// `profile`'s fields: at least one of the two.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSwitch {
    /// The authorization-server profile to switch to.
    #[serde(rename = "as", default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub as_profile: Option<AsProfile>,
    /// The resource-server profile to switch to.
    #[serde(default, deserialize_with = "named")]
    #[schemars(with = "Option<String>")]
    pub rs: Option<RsProfile>,
}

/// `client`'s fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientRun {
    /// `rs` (default) or `twin`: the MCP server, unless `url` names another.
    #[serde(default)]
    pub target: RsTarget,
    /// The URL the client connects to.
    pub url: Option<String>,
    /// The tool to call (`tools/list` unless set).
    pub tool: Option<String>,
    /// The tool's arguments.
    pub args: Option<Value>,
    /// Sent as `login_hint`.
    pub user: Option<String>,
    /// The scope to ask for.
    pub scope: Option<String>,
    /// A client ID metadata document URL to use.
    pub metadata_document: Option<String>,
    /// A pre-registered client id.
    pub client_id: Option<String>,
    /// The pre-registered client's secret.
    pub client_secret: Option<String>,
}

/// `listeners`' fields.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Listeners {
    /// `rs` (default) or `twin`.
    #[serde(default)]
    pub target: RsTarget,
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
    /// The AS's own header (`alg`, `typ`, `kid`) with an empty signature.
    Stripped,
    /// The AS's own header with a signature of zero bytes as long as the AS's algorithm makes
    /// them: ECDSA's `r = s = 0` (CVE-2022-21449). For RSA and EdDSA keys the zeros only keep the
    /// length right, so the check reaches the verifier rather than a length test.
    ZeroSignature,
}

/// Where a captured value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capture {
    /// `json:/pointer`: an RFC 6901 pointer into the JSON body.
    Json(String),
    /// `redirect:param`: a query parameter of the `Location` redirect.
    Redirect(String),
    /// `header:name`: a response header.
    Header(String),
    /// `cookie:name`: `name=value` of the `Set-Cookie` that sets it.
    Cookie(String),
    /// `html:field`: the value of an HTML form field.
    Html(String),
    /// `var:name`: a value the step itself chose (its PKCE `challenge`, say).
    Var(String),
}

impl FromStr for Capture {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let (source, name) = spec.split_once(':').unwrap_or((spec, ""));
        let capture = match source {
            "json" if name.starts_with('/') => Self::Json(name.to_owned()),
            "redirect" => Self::Redirect(name.to_owned()),
            "header" => Self::Header(name.to_ascii_lowercase()),
            "cookie" => Self::Cookie(name.to_owned()),
            "html" => Self::Html(name.to_owned()),
            "var" => Self::Var(name.to_owned()),
            _ => {
                return Err(format!(
                    "capture `{spec}` must start with json:/, redirect:, header:, cookie:, html: or var:"
                ));
            }
        };
        if name.is_empty() {
            return Err(format!("capture `{spec}` names nothing after its `{source}:`"));
        }
        Ok(capture)
    }
}

impl fmt::Display for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Json(pointer) => write!(f, "json:{pointer}"),
            Self::Redirect(name) => write!(f, "redirect:{name}"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Cookie(name) => write!(f, "cookie:{name}"),
            Self::Html(name) => write!(f, "html:{name}"),
            Self::Var(name) => write!(f, "var:{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for Capture {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_specs_parse_into_their_source_and_refuse_anything_else() {
        assert_eq!("json:/a/b".parse(), Ok(Capture::Json("/a/b".into())));
        assert_eq!("header:MCP-Session-Id".parse(), Ok(Capture::Header("mcp-session-id".into())));
        assert_eq!("var:challenge".parse(), Ok(Capture::Var("challenge".into())));
        assert!("json:a".parse::<Capture>().unwrap_err().contains("json:/"));
        assert!("body".parse::<Capture>().is_err());
        assert!("cookie:".parse::<Capture>().unwrap_err().contains("names nothing"));
        for spec in ["json:/x", "redirect:code", "header:location", "cookie:sid", "html:csrf", "var:state"] {
            assert_eq!(spec.parse::<Capture>().map(|capture| capture.to_string()), Ok(spec.to_owned()));
        }
    }

    #[test]
    fn variables_are_found_wherever_a_step_names_them() {
        assert_eq!(variables_in("a ${x} b ${y_z}} ${").collect::<Vec<_>>(), ["x", "y_z"]);
    }
}
