//! The `forge` step: tokens an attacker could make. The step builds the claims (a conforming
//! token for alice, the file's edits on top); `lab_harness::forge`, which the control API shares,
//! signs or breaks them.

use lab_harness::Forgery;
use lab_proto::jose::split_compact;
use serde_json::{Value, json};

use crate::error::StepError;
use crate::runner::Run;
use crate::schema::{Forge, ForgeKind};

fn forge_error(error: &dyn std::fmt::Display) -> StepError {
    StepError::Forge(error.to_string())
}

impl Run {
    pub(super) fn forge(&self, step: &Forge) -> Result<String, StepError> {
        let now = self.lab.clock().now();
        let jwks_server = if self.vars.get("rs_issuer") == Some(self.lab.path_issuer()) {
            self.lab.tenant_server()
        } else {
            self.lab.auth_server()
        };
        let mut claims = json!({
            "iss": self.vars.get("rs_issuer").unwrap_or_default(),
            "sub": "alice",
            "aud": self.resource(),
            "exp": now + 300,
            "iat": now,
            "nbf": now,
            "jti": lab_proto::random_token(12).map_err(|_| StepError::Random)?,
            "client_id": "lab-public-client",
            "scope": "mcp:read",
        });
        let kind = step.kind;
        // The token a tampering starts from: its claims are edited, its header and signature kept.
        let genuine = if kind == ForgeKind::Tamper {
            let token = self
                .vars
                .expand(step.token.as_deref().unwrap_or("${access_token}"))
                .map_err(StepError::field("token"))?;
            let parts = split_compact(&token).map_err(|error| forge_error(&error))?;
            claims = lab_proto::jose::decode_json(parts.payload).map_err(|error| forge_error(&error))?;
            Some(token)
        } else {
            None
        };
        if let Value::Object(members) = &mut claims {
            for (name, value) in &step.claims {
                match value {
                    Value::Null => {
                        members.remove(name);
                    }
                    value => {
                        members.insert(name.clone(), self.vars.expand_json(value).map_err(StepError::field("claims"))?);
                    }
                }
            }
        }
        if let Value::Object(members) = &mut claims {
            for (name, offset) in [("exp", step.exp_in), ("nbf", step.nbf_in), ("iat", step.iat_in)] {
                if let Some(offset) = offset {
                    members.insert(name.to_owned(), json!(now.saturating_add_signed(offset)));
                }
            }
        }
        if let Value::Object(members) = &mut claims {
            for name in &step.remove {
                members.remove(name);
            }
        }
        let typ = step.typ.clone().unwrap_or_else(|| "at+jwt".to_owned());
        let canary = || self.lab.canary().url().to_owned();
        let forgery = match kind {
            ForgeKind::Resign => {
                let mut header = step.header.clone();
                if step.omit_typ {
                    header.insert("typ".to_owned(), Value::Null);
                }
                Forgery::Signed { header }
            }
            ForgeKind::None => Forgery::AlgNone { alg: step.alg.clone().unwrap_or_else(|| "none".to_owned()) },
            ForgeKind::Stripped => Forgery::Stripped,
            ForgeKind::ZeroSignature => Forgery::ZeroSignature,
            ForgeKind::Hs256 => Forgery::Hs256,
            ForgeKind::UnknownKid => Forgery::UnknownKid,
            ForgeKind::AttackerKey => Forgery::AttackerKey,
            ForgeKind::EmbeddedJwk => Forgery::EmbeddedJwk,
            ForgeKind::Jku => Forgery::Jku { canary: canary() },
            ForgeKind::X5u => Forgery::X5u { canary: canary() },
            ForgeKind::Tamper => Forgery::Tampered { genuine: genuine.unwrap_or_default() },
        };
        let token =
            lab_harness::forge(jwks_server, Some(&typ), &claims, &forgery).map_err(|error| forge_error(&error))?;
        Ok(token)
    }
}
