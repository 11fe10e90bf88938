//! The company IdP on the wire, under `/idp` of the identity server: OpenID discovery, the
//! authorize page a browser approves (answering with a redirect to the client's loopback
//! address), and the token endpoint (form-encoded, OAuth 2.0 JSON answers).

use std::collections::HashMap;

use serde_json::json;

use crate::identity::ServiceError;
use crate::identity_http::{IdentityService, Response, html_escape, respond};

fn oauth_error(e: &ServiceError) -> Response {
    let body = json!({"error": e.exception, "error_description": e.message});
    respond(e.status, "application/json", body.to_string(), None)
}

impl IdentityService {
    /// The issuer URL of the company IdP: `http://127.0.0.1:<port>/idp`.
    pub(crate) fn issuer(&self) -> String {
        format!("{}/idp", self.base)
    }

    /// Answers `/idp/…`; `None` for a path that is not the IdP's.
    pub(crate) fn idp(
        &self,
        method: &str,
        path: &str,
        query: &HashMap<String, String>,
        body: &[u8],
    ) -> Option<Response> {
        let issuer = self.issuer();
        Some(match (method, path) {
            ("GET", "/idp/.well-known/openid-configuration") => respond(
                200,
                "application/json",
                json!({
                    "issuer": issuer,
                    "authorization_endpoint": format!("{issuer}/authorize"),
                    "token_endpoint": format!("{issuer}/token"),
                    "response_types_supported": ["code"],
                    "code_challenge_methods_supported": ["S256"],
                    "grant_types_supported": ["authorization_code", "refresh_token"],
                })
                .to_string(),
                None,
            ),
            ("GET", "/idp/authorize") => self.authorize_page(query),
            ("POST", "/idp/authorize") => {
                let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
                let user = form.get("user").map(String::as_str).filter(|u| !u.is_empty());
                let approve = form.get("action").map(String::as_str) == Some("approve");
                match self.identity.idp_authorize(&form, if approve { user } else { None }) {
                    Ok(target) => {
                        let mut resp = respond(302, "text/html; charset=utf-8", String::new(), None);
                        if let Ok(v) = http::HeaderValue::from_str(&target) {
                            resp.headers_mut().insert(http::header::LOCATION, v);
                        }
                        resp
                    }
                    Err(e) => oauth_error(&e),
                }
            }
            ("POST", "/idp/token") => {
                let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
                match self.identity.idp_token(&form) {
                    Ok(t) => respond(
                        200,
                        "application/json",
                        json!({
                            "token_type": "Bearer", "id_token": t.id_token, "access_token": t.access_token,
                            "refresh_token": t.refresh_token, "expires_in": t.expires_in,
                        })
                        .to_string(),
                        None,
                    ),
                    Err(e) => oauth_error(&e),
                }
            }
            _ => return None,
        })
    }

    /// The sign-in page: the request's parameters carried in hidden fields, a user, Allow/Deny.
    fn authorize_page(&self, q: &HashMap<String, String>) -> Response {
        let hidden: String = [
            "client_id",
            "redirect_uri",
            "response_type",
            "state",
            "code_challenge",
            "code_challenge_method",
            "scope",
        ]
        .iter()
        .map(|k| {
            let v = html_escape(q.get(*k).map(String::as_str).unwrap_or(""));
            format!("<input type=hidden name={k} value=\"{v}\">")
        })
        .collect();
        let page = format!(
            "<!doctype html><title>Company sign-in</title><h1>Sign in to pail</h1>\
             <form method=post action=/idp/authorize>{hidden}\
             <p>User <input name=user value=\"alice@example.com\"></p>\
             <button name=action value=approve>Allow</button> <button name=action value=deny>Deny</button></form>"
        );
        respond(200, "text/html; charset=utf-8", page, None)
    }
}
