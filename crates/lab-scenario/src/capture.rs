//! Captures: values a step takes from its answer into `${variables}`. Pure: the observation and
//! the variables in, the value out.

use crate::expect::Observation;
use crate::schema::Capture;
use crate::vars::{Vars, as_param};

/// The value `capture` takes from `seen`, if the answer has it.
pub(crate) fn value(capture: &Capture, seen: &Observation, vars: &Vars) -> Option<String> {
    match capture {
        Capture::Json(pointer) => seen.json.as_ref().and_then(|json| json.pointer(pointer)).map(as_param),
        Capture::Redirect(param) => seen
            .redirect_params()
            .and_then(|params| params.into_iter().find(|(key, _)| key == param).map(|(_, value)| value)),
        Capture::Header(header) => seen.header(header).map(str::to_owned),
        // `name=value` of the named cookie, from whichever Set-Cookie carries it.
        Capture::Cookie(cookie) => seen
            .headers
            .iter()
            .filter(|(key, _)| key == "set-cookie")
            .filter_map(|(_, value)| value.split(';').next())
            .find(|pair| pair.split_once('=').is_some_and(|(key, _)| key.trim() == cookie))
            .map(|pair| pair.trim().to_owned()),
        // A value the step itself chose, such as its fresh PKCE `challenge`.
        Capture::Var(variable) => vars.get(variable).map(str::to_owned),
        // The value of a form field `name="field" value="…"` of an HTML page.
        Capture::Html(field) => {
            let body = String::from_utf8_lossy(&seen.body);
            let marker = format!("name=\"{field}\" value=\"");
            body.find(&marker).and_then(|start| {
                let rest = &body[start + marker.len()..];
                rest.find('"').map(|end| rest[..end].replace("&quot;", "\"").replace("&amp;", "&"))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen() -> Observation {
        Observation {
            status: Some(302),
            headers: vec![
                ("location".into(), "http://127.0.0.1/cb?code=abc&state=s%20t".into()),
                ("set-cookie".into(), "other=1; Path=/".into()),
                ("set-cookie".into(), "sid=xyz; HttpOnly".into()),
                ("mcp-session-id".into(), "42".into()),
            ],
            body: br#"<input name="csrf" value="a&amp;b&quot;c">"#.to_vec(),
            json: Some(serde_json::json!({"a": {"b": 7}, "s": "text"})),
            ..Observation::default()
        }
    }

    #[test]
    fn each_source_takes_its_value_and_a_missing_one_takes_none() {
        let mut vars = Vars::default();
        vars.set("challenge", "chosen");
        let take = |spec: &str| value(&spec.parse().unwrap(), &seen(), &vars);
        assert_eq!(take("json:/a/b").as_deref(), Some("7"));
        assert_eq!(take("json:/s").as_deref(), Some("text"));
        assert_eq!(take("redirect:state").as_deref(), Some("s t"));
        assert_eq!(take("header:Mcp-Session-Id").as_deref(), Some("42"));
        assert_eq!(take("cookie:sid").as_deref(), Some("sid=xyz"));
        assert_eq!(take("html:csrf").as_deref(), Some("a&b\"c"));
        assert_eq!(take("var:challenge").as_deref(), Some("chosen"));
        for missing in ["json:/z", "redirect:iss", "header:x", "cookie:none", "html:user", "var:nothing"] {
            assert_eq!(take(missing), None, "{missing}");
        }
    }
}
