//! The identity services on the wire, on their own port: SSO OIDC (rest-json, unsigned),
//! the SSO portal (bearer token in `x-amz-sso_bearer_token`), STS (awsQuery, XML answers), and
//! the device verification page a browser — or a test acting as one — approves or denies.
//!
//! Errors are shaped as the real services send them, with the exception name in
//! `x-amzn-ErrorType`, which is where the SDKs look first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use http_body_util::BodyExt;
use serde_json::{Value, json};

use crate::identity::{ACCOUNT_ID, Identity, ServiceError};
use crate::server::Handler;

pub(crate) type Response = s3s::HttpResponse;

pub(crate) fn respond(status: u16, content_type: &'static str, body: String, error_type: Option<&str>) -> Response {
    let mut resp = http::Response::new(s3s::Body::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let h = resp.headers_mut();
    h.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    if let Some(t) = error_type.and_then(|t| http::HeaderValue::from_str(t).ok()) {
        h.insert("x-amzn-errortype", t);
    }
    resp
}

fn json_ok(v: &Value) -> Response {
    respond(200, "application/json", v.to_string(), None)
}

/// OIDC errors: `{"error": "<oauth code>", "error_description": …}`.
fn oidc_error(e: &ServiceError) -> Response {
    let code = match e.exception {
        "AuthorizationPendingException" => "authorization_pending",
        "SlowDownException" => "slow_down",
        "ExpiredTokenException" => "expired_token",
        "AccessDeniedException" => "access_denied",
        "InvalidGrantException" => "invalid_grant",
        "InvalidClientException" => "invalid_client",
        "UnsupportedGrantTypeException" => "unsupported_grant_type",
        "InvalidRequestException" => "invalid_request",
        _ => "server_error",
    };
    let body = json!({"error": code, "error_description": e.message});
    respond(e.status, "application/json", body.to_string(), Some(e.exception))
}

/// Portal errors: `{"message": …}`.
fn portal_error(e: &ServiceError) -> Response {
    let body = json!({"message": e.message});
    respond(e.status, "application/json", body.to_string(), Some(e.exception))
}

fn sts_error(status: u16, code: &str, message: &str) -> Response {
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>emulator</RequestId></ErrorResponse>"
    );
    respond(status, "text/xml", body, None)
}

fn bad_request(message: &str) -> ServiceError {
    ServiceError {
        status: 400,
        exception: "InvalidRequestException",
        message: message.to_owned(),
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, ServiceError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad_request(&format!("{name} is required")))
}

fn query(uri: &http::Uri) -> HashMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

/// The identity endpoints' state shared by every request.
#[derive(Debug, Clone)]
pub(crate) struct IdentityService {
    pub identity: Identity,
    /// `http://127.0.0.1:<port>` of this server, for verification URLs.
    pub base: String,
    /// Static access keys the emulator accepts (callers of STS with these are an IAM user).
    pub static_keys: Vec<String>,
}

impl IdentityService {
    pub(crate) fn handler(self) -> Handler {
        let this = Arc::new(self);
        Arc::new(move |req| {
            let this = this.clone();
            Box::pin(async move { Ok(this.answer(req).await) })
        })
    }

    async fn answer(&self, req: http::Request<hyper::body::Incoming>) -> Response {
        let (parts, body) = req.into_parts();
        let body = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return respond(400, "text/plain", format!("cannot read body: {e}"), None),
        };
        let path = parts.uri.path().to_owned();
        tracing::debug!(method = %parts.method, path, "identity request");
        if path.starts_with("/idp/")
            && let Some(resp) = self.idp(parts.method.as_str(), &path, &query(&parts.uri), &body)
        {
            return resp;
        }
        match (parts.method.as_str(), path.as_str()) {
            ("POST", "/client/register" | "/device_authorization" | "/token") => {
                let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match self.oidc(&path, &v) {
                    Ok(v) => json_ok(&v),
                    Err(e) => oidc_error(&e),
                }
            }
            ("GET", "/federation/credentials") => match self.role_credentials(&parts) {
                Ok(v) => json_ok(&v),
                Err(e) => portal_error(&e),
            },
            ("POST", "/logout") => respond(200, "application/json", String::new(), None),
            ("GET", "/device") => self.device_page(&query(&parts.uri)),
            ("POST", "/device") => {
                let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
                self.device_decision(&form)
            }
            ("POST", "/") => self.sts(&parts, &body),
            _ => respond(404, "text/plain", "not found".into(), None),
        }
    }

    fn oidc(&self, path: &str, v: &Value) -> Result<Value, ServiceError> {
        match path {
            "/client/register" => {
                field(v, "clientName")?;
                field(v, "clientType")?;
                let scopes: Vec<String> = v
                    .get("scopes")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default();
                let (id, secret, issued, expires) = self.identity.register(&scopes);
                Ok(json!({
                    "clientId": id, "clientSecret": secret,
                    "clientIdIssuedAt": issued, "clientSecretExpiresAt": expires,
                }))
            }
            "/device_authorization" => {
                field(v, "startUrl")?;
                let d = self
                    .identity
                    .start_device(field(v, "clientId")?, field(v, "clientSecret")?)?;
                Ok(json!({
                    "deviceCode": d.device_code, "userCode": d.user_code,
                    "verificationUri": format!("{}/device", self.base),
                    "verificationUriComplete": format!("{}/device?user_code={}", self.base, d.user_code),
                    "expiresIn": d.expires_in, "interval": d.interval,
                }))
            }
            _ => {
                let (id, secret) = (field(v, "clientId")?, field(v, "clientSecret")?);
                let tokens = match field(v, "grantType")? {
                    "urn:ietf:params:oauth:grant-type:device_code" => {
                        self.identity.token_for_device(id, secret, field(v, "deviceCode")?)?
                    }
                    "refresh_token" => self.identity.token_for_refresh(id, secret, field(v, "refreshToken")?)?,
                    _ => {
                        return Err(ServiceError {
                            status: 400,
                            exception: "UnsupportedGrantTypeException",
                            message: "Unsupported grant type".into(),
                        });
                    }
                };
                let mut out = json!({
                    "accessToken": tokens.access_token, "tokenType": "Bearer", "expiresIn": tokens.expires_in,
                });
                if let Some(r) = tokens.refresh_token {
                    out["refreshToken"] = Value::String(r);
                }
                Ok(out)
            }
        }
    }

    fn role_credentials(&self, parts: &http::request::Parts) -> Result<Value, ServiceError> {
        let q = query(&parts.uri);
        let token = parts
            .headers
            .get("x-amz-sso_bearer_token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let (key, access_key) = self.identity.role_credentials(
            token,
            q.get("account_id").map(String::as_str).unwrap_or(""),
            q.get("role_name").map(String::as_str).unwrap_or(""),
        )?;
        let ms = key
            .expires
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Ok(json!({"roleCredentials": {
            "accessKeyId": access_key, "secretAccessKey": key.secret,
            "sessionToken": key.session_token, "expiration": ms,
        }}))
    }

    fn device_page(&self, q: &HashMap<String, String>) -> Response {
        let code = q.get("user_code").map(String::as_str).unwrap_or("");
        let code = html_escape(code);
        let page = format!(
            "<!doctype html><title>pail emulator — sign in</title><h1>Authorize request</h1>\
             <form method=post action=/device><p>Code <input name=user_code value=\"{code}\"></p>\
             <p>Sign in as <input name=user value=\"alice@example.com\"></p>\
             <button name=action value=approve>Allow</button> <button name=action value=deny>Deny</button></form>"
        );
        respond(200, "text/html; charset=utf-8", page, None)
    }

    fn device_decision(&self, form: &HashMap<String, String>) -> Response {
        let code = form.get("user_code").map(String::as_str).unwrap_or("");
        let user = form.get("user").map(String::as_str).filter(|u| !u.is_empty());
        let approve = form.get("action").map(String::as_str) == Some("approve");
        if approve && user.is_none() {
            return respond(
                400,
                "text/html; charset=utf-8",
                "<!doctype html><p>Enter the user to sign in as.</p>".into(),
                None,
            );
        }
        let decided = self.identity.decide(code, if approve { user } else { None });
        if !decided {
            return respond(
                400,
                "text/html; charset=utf-8",
                "<!doctype html><p>This code is not valid or has expired.</p>".into(),
                None,
            );
        }
        let text = if approve { "Request approved" } else { "Request denied" };
        respond(
            200,
            "text/html; charset=utf-8",
            format!("<!doctype html><h1>{text}</h1><p>You can close this window.</p>"),
            None,
        )
    }

    fn sts(&self, parts: &http::request::Parts, body: &[u8]) -> Response {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        match form.get("Action").map(String::as_str) {
            Some("GetCallerIdentity") => {}
            Some("AssumeRoleWithWebIdentity") => return self.assume_role_with_web_identity(&form),
            _ => {
                return sts_error(
                    400,
                    "InvalidAction",
                    "Only GetCallerIdentity and AssumeRoleWithWebIdentity are emulated",
                );
            }
        }
        let access_key = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.split("Credential=").nth(1))
            .and_then(|c| c.split('/').next())
            .unwrap_or("");
        let (user_id, arn) = if self.static_keys.iter().any(|k| k == access_key) {
            (
                "AIDAEMULATORSTATIC".to_owned(),
                format!("arn:aws:iam::{ACCOUNT_ID}:user/pail-test"),
            )
        } else {
            match self.identity.issued(access_key) {
                Some(k) if k.expires > SystemTime::now() => (k.user_id, k.arn),
                Some(_) => {
                    return sts_error(
                        400,
                        "ExpiredToken",
                        "The security token included in the request is expired",
                    );
                }
                None => {
                    return sts_error(
                        403,
                        "InvalidClientTokenId",
                        "The security token included in the request is invalid.",
                    );
                }
            }
        };
        let body = format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult>\
             <Arn>{}</Arn><UserId>{}</UserId><Account>{ACCOUNT_ID}</Account></GetCallerIdentityResult>\
             <ResponseMetadata><RequestId>emulator</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
            html_escape(&arn),
            html_escape(&user_id)
        );
        respond(200, "text/xml", body, None)
    }
}

impl IdentityService {
    /// STS AssumeRoleWithWebIdentity (unsigned: the ID token is the credential).
    fn assume_role_with_web_identity(&self, form: &HashMap<String, String>) -> Response {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        match self.identity.assume_role_with_web_identity(
            get("RoleArn"),
            get("RoleSessionName"),
            get("WebIdentityToken"),
        ) {
            Err(e) => sts_error(e.status, e.exception, &e.message),
            Ok((key, access_key)) => {
                let expires = time::OffsetDateTime::from(key.expires)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let body = format!(
                    "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                     <AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>{access_key}</AccessKeyId>\
                     <SecretAccessKey>{}</SecretAccessKey><SessionToken>{}</SessionToken>\
                     <Expiration>{expires}</Expiration></Credentials>\
                     <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\
                     <AssumedRoleUser><Arn>{}</Arn><AssumedRoleId>{}</AssumedRoleId></AssumedRoleUser>\
                     <Provider>{}</Provider><Audience>{}</Audience></AssumeRoleWithWebIdentityResult>\
                     <ResponseMetadata><RequestId>emulator</RequestId></ResponseMetadata>\
                     </AssumeRoleWithWebIdentityResponse>",
                    key.secret,
                    key.session_token,
                    html_escape(get("RoleSessionName")),
                    html_escape(&key.arn),
                    html_escape(&key.user_id),
                    html_escape(&self.issuer()),
                    crate::idp::IDP_CLIENT_ID,
                );
                respond(200, "text/xml", body, None)
            }
        }
    }
}

pub(crate) fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
