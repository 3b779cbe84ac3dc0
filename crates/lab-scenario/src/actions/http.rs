//! The `http` step: a raw request, every part of it the file's (method, URL, headers, body).

use crate::error::StepError;
use crate::expect::Observation;
use crate::runner::Run;
use crate::schema::Http;
use crate::wire::Payload;

impl Run {
    pub(super) async fn http(&mut self, step: &Http) -> Result<Observation, StepError> {
        let url = self.vars.expand(&step.url).map_err(StepError::field("url"))?;
        let mut headers = self.headers(&step.headers, None)?;
        if let Some(token) = &step.token {
            let token = self.vars.expand(token).map_err(StepError::field("token"))?;
            headers.push(("authorization".to_owned(), format!("Bearer {token}")));
        }
        let payload = match (&step.form, &step.json, &step.body) {
            (Some(form), _, _) => Payload::Form(
                form.iter()
                    .map(|[name, value]| Ok((name.clone(), self.vars.expand(value)?)))
                    .collect::<Result<_, String>>()
                    .map_err(StepError::field("form"))?,
            ),
            (None, Some(json), _) => Payload::Json(self.vars.expand_json(json).map_err(StepError::field("json"))?),
            (None, None, Some(body)) => Payload::Raw(self.vars.expand(body).map_err(StepError::field("body"))?),
            _ => Payload::None,
        };
        let method = step.method.as_deref().unwrap_or("GET");
        self.send(method, &url, headers, payload).await
    }
}
