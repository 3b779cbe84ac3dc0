//! Resource indicators (RFC 8707) at the authorization and token endpoints: which resource a
//! request names, and which resources a token redeemed from an earlier authorization may be for.

use lab_proto::OAuthErrorCode;

use crate::http::{Form, OAuthError};
use crate::profile::AsProfile;
use crate::state::AuthServer;

/// RFC 8707 §2, AS-15: exactly one known, well-formed resource (lab decisions: required, one).
pub(crate) fn validate_resource(server: &AuthServer, form: &Form) -> Result<String, (OAuthErrorCode, String)> {
    let target = |description: &str| (OAuthErrorCode::InvalidTarget, description.to_owned());
    if form.count("resource") > 1 {
        return Err(target("exactly one resource is allowed"));
    }
    let Some(value) = form.get("resource").map_err(|_| target("exactly one resource is allowed"))? else {
        return Err(target("resource is required"));
    };
    let canonical = lab_proto::resource::canonicalize_resource(value).map_err(|error| target(&error.to_string()))?;
    if !server.inner.config.resources.contains(&canonical) {
        return Err(target("resource is not served by this authorization server"));
    }
    Ok(canonical)
}

/// What a token request redeems: an authorization code, or a refresh token of a grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Redemption {
    Code,
    Refresh,
}

impl Redemption {
    /// Why a resource the earlier authorization did not name is refused.
    fn outside(self) -> &'static str {
        match self {
            Self::Code => "resource was not part of the authorization request",
            Self::Refresh => "resource is outside the original grant",
        }
    }
}

/// The resources a token redeemed from an earlier authorization is minted for: RFC 8707 §2.2 lets a
/// token request name one of the resources that authorization named, and nothing else.
///
/// A code exchange must name its resource (the lab's reading of AS-15); a refresh keeps the grant's
/// resources when the client does not repeat one. Under `ignore-resource` the parameter is not read
/// at all and the token is for everything granted.
pub(crate) fn redeemed_resources(
    server: &AuthServer,
    profile: AsProfile,
    form: &Form,
    granted: &[String],
    redemption: Redemption,
) -> Result<Vec<String>, OAuthError> {
    if profile == AsProfile::IgnoreResource {
        return Ok(granted.to_vec());
    }
    if redemption == Redemption::Refresh && form.get("resource")?.is_none() {
        return Ok(granted.to_vec());
    }
    let requested =
        validate_resource(server, form).map_err(|(code, description)| OAuthError::bad_request(code, description))?;
    if !granted.contains(&requested) {
        return Err(OAuthError::bad_request(OAuthErrorCode::InvalidTarget, redemption.outside()));
    }
    Ok(vec![requested])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AuthServerConfig, lab};

    fn server() -> AuthServer {
        let resources = vec![lab::RESOURCE.to_owned(), lab::TWIN_RESOURCE.to_owned()];
        AuthServer::new(AuthServerConfig::lab(lab::ISSUER, resources)).unwrap()
    }

    fn redeem(form: &str, profile: AsProfile, redemption: Redemption) -> Result<Vec<String>, OAuthError> {
        let granted = [lab::RESOURCE.to_owned()];
        redeemed_resources(&server(), profile, &Form::parse(form.as_bytes()).unwrap(), &granted, redemption)
    }

    fn refusal(result: Result<Vec<String>, OAuthError>) -> (OAuthErrorCode, String) {
        let error = result.unwrap_err();
        (error.body.error, error.body.error_description.unwrap_or_default())
    }

    #[test]
    fn a_redemption_may_name_only_what_was_granted() {
        let rs = format!("resource={}", lab::RESOURCE);
        let twin = format!("resource={}", lab::TWIN_RESOURCE);
        for redemption in [Redemption::Code, Redemption::Refresh] {
            assert_eq!(redeem(&rs, AsProfile::Conforming, redemption).unwrap(), [lab::RESOURCE]);
            let (code, description) = refusal(redeem(&twin, AsProfile::Conforming, redemption));
            assert_eq!((code, description.as_str()), (OAuthErrorCode::InvalidTarget, redemption.outside()));
            let (code, _) =
                refusal(redeem("resource=https://elsewhere.example/mcp", AsProfile::Conforming, redemption));
            assert_eq!(code, OAuthErrorCode::InvalidTarget, "a resource this AS does not serve");
            // `ignore-resource` does not read the parameter at all.
            assert_eq!(redeem(&twin, AsProfile::IgnoreResource, redemption).unwrap(), [lab::RESOURCE]);
        }
    }

    #[test]
    fn only_a_refresh_may_leave_the_resource_out() {
        assert_eq!(redeem("", AsProfile::Conforming, Redemption::Refresh).unwrap(), [lab::RESOURCE]);
        let (code, description) = refusal(redeem("", AsProfile::Conforming, Redemption::Code));
        assert_eq!((code, description.as_str()), (OAuthErrorCode::InvalidTarget, "resource is required"));
    }

    #[test]
    fn a_repeated_resource_is_refused_as_before() {
        let twice = format!("resource={0}&resource={0}", lab::RESOURCE);
        // A code exchange reads it as a target error (RFC 8707 §2: one resource, lab decision)...
        assert_eq!(refusal(redeem(&twice, AsProfile::Conforming, Redemption::Code)).0, OAuthErrorCode::InvalidTarget);
        // ...a refresh as a repeated parameter (O21 §3.2), which it checks first.
        assert_eq!(
            refusal(redeem(&twice, AsProfile::Conforming, Redemption::Refresh)).0,
            OAuthErrorCode::InvalidRequest
        );
    }
}
