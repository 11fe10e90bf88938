//! Sign-in to a company OIDC identity provider without IAM Identity Center: OpenID discovery,
//! authorization code + PKCE (S256) on a `http://127.0.0.1:<port>/callback` loopback redirect
//! (RFC 8252), the token endpoint (code, then refresh token), and STS
//! AssumeRoleWithWebIdentity with the ID token for the profile's role. The session name is the
//! ID token's `sub` (or the claim the profile names), so `aws:userid` is `<role id>:<sub>` and a
//! per-user folder policy applies — because the role's trust policy requires
//! `sts:RoleSessionName` to be `${<issuer>:sub}`, a user cannot name another's session
//! (`docs/admin-guide.md`, "Without IAM Identity Center").
//!
//! The sign-in is kept like an Identity Center one, in the token cache directory (a file named
//! for the issuer and client, mode 0600, the ID token in `accessToken`), and renewed by
//! [`crate::SsoProvider`] through [`crate::flow::Flow`].

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::cache::{CachedToken, format_time};
use crate::error::AuthError;
use crate::profiles::FederatedProfile;
use crate::sso::{DeviceAuthorization, Endpoints, Fail, sts_config};

/// How long the browser sign-in may take.
const SIGN_IN_WINDOW: Duration = Duration::from_secs(600);
const UNRESERVED: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~";

#[derive(Debug, Deserialize)]
struct Discovery {
    authorization_endpoint: String,
    token_endpoint: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    id_token: Option<String>,
    refresh_token: Option<String>,
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct OauthError {
    error: String,
    error_description: Option<String>,
}

/// A browser sign-in under way: the loopback listener and what the answer must match.
pub(crate) struct Loopback {
    listener: tokio::sync::Mutex<Option<TcpListener>>,
    state: String,
    verifier: String,
    redirect_uri: String,
    token_endpoint: String,
}

impl std::fmt::Debug for Loopback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loopback")
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// The client of one federated profile.
#[derive(Debug, Clone)]
pub(crate) struct OidcClient {
    pub(crate) profile: FederatedProfile,
    http: reqwest::Client,
    sts: aws_sdk_sts::Client,
    sts_endpoint: String,
}

fn random(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(UNRESERVED[rng.random_range(0..UNRESERVED.len())]))
        .collect()
}

/// `base64url(sha256(verifier))`, unpadded: the S256 code challenge.
pub(crate) fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// A claim of a JWT's payload (not verified here: STS verifies the token).
fn claim(jwt: &str, name: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get(name).cloned()
}

/// Refuses an IdP address that is plain http on another machine: sign-in codes, refresh
/// tokens and ID tokens travel there. (http on this machine serves tests and local IdPs.)
fn require_https(url: &str) -> Result<(), AuthError> {
    let insecure = || AuthError::InsecureEndpoint { url: url.to_owned() };
    let parsed = reqwest::Url::parse(url).map_err(|_| insecure())?;
    let host = parsed.host_str().unwrap_or("");
    let this_machine = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if this_machine => Ok(()),
        _ => Err(insecure()),
    }
}

/// The HTTP client for the IdP: rustls with the system roots, plus `AWS_CA_BUNDLE` when set.
fn http_client() -> Result<reqwest::Client, AuthError> {
    let mut b = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("pail/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| AuthError::Service {
            op: "reading AWS_CA_BUNDLE",
            message: format!("{}: {e}", std::path::Path::new(&path).display()),
        })?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| AuthError::Service {
            op: "reading AWS_CA_BUNDLE",
            message: e.to_string(),
        })?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    b.build().map_err(|e| AuthError::Service {
        op: "preparing HTTPS",
        message: e.to_string(),
    })
}

impl OidcClient {
    pub(crate) async fn new(
        profile: FederatedProfile,
        endpoints: &Endpoints,
        http: Option<&SharedHttpClient>,
    ) -> Result<Self, AuthError> {
        require_https(&profile.issuer)?;
        let region = profile.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
        let sts = sts_config(&region, endpoints, http).await;
        let sts_endpoint = endpoints
            .sts
            .clone()
            .unwrap_or_else(|| format!("https://sts.{region}.amazonaws.com"));
        Ok(Self {
            profile,
            http: http_client()?,
            sts: aws_sdk_sts::Client::from_conf(sts.build()),
            sts_endpoint,
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> AuthError {
        AuthError::Unreachable {
            service: "the company sign-in",
            endpoint: self.profile.issuer.clone(),
            message: e.to_string(),
        }
    }

    async fn discover(&self) -> Result<Discovery, AuthError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.profile.issuer.trim_end_matches('/')
        );
        let resp = self.http.get(&url).send().await.map_err(|e| self.unreachable(&e))?;
        if !resp.status().is_success() {
            return Err(AuthError::Service {
                op: "OpenID discovery",
                message: format!("{url} answered {}", resp.status()),
            });
        }
        let found: Discovery = resp.json().await.map_err(|e| AuthError::Service {
            op: "OpenID discovery",
            message: format!("{url}: {e}"),
        })?;
        require_https(&found.authorization_endpoint)?;
        require_https(&found.token_endpoint)?;
        Ok(found)
    }

    /// Starts a browser sign-in: the page to open (no code to compare), and a loopback
    /// listener waiting for the redirect.
    pub(crate) async fn start(&self) -> Result<DeviceAuthorization, AuthError> {
        let d = self.discover().await?;
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| AuthError::Service {
                op: "listening for the sign-in redirect",
                message: e.to_string(),
            })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let (state, verifier) = (random(32), random(64));
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.profile.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &self.profile.scopes)
            .append_pair("state", &state)
            .append_pair("code_challenge", &code_challenge(&verifier))
            .append_pair("code_challenge_method", "S256")
            .finish();
        let sep = if d.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{sep}{query}", d.authorization_endpoint);
        let loopback = Loopback {
            listener: tokio::sync::Mutex::new(Some(listener)),
            state,
            verifier,
            redirect_uri,
            token_endpoint: d.token_endpoint,
        };
        Ok(DeviceAuthorization::browser(
            d.authorization_endpoint,
            url,
            SystemTime::now() + SIGN_IN_WINDOW,
            Arc::new(loopback),
        ))
    }

    /// Waits for the browser's redirect, then exchanges the code for tokens.
    pub(crate) async fn wait(&self, dev: &DeviceAuthorization) -> Result<CachedToken, AuthError> {
        let Some(lb) = dev.loopback() else {
            return Err(AuthError::TimedOut);
        };
        let Some(listener) = lb.listener.lock().await.take() else {
            return Err(AuthError::TimedOut);
        };
        let left = dev.expires_at.duration_since(SystemTime::now()).unwrap_or_default();
        let code = tokio::time::timeout(left, accept_code(&listener, &lb.state))
            .await
            .map_err(|_| AuthError::TimedOut)??;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", lb.redirect_uri.as_str()),
            ("client_id", self.profile.client_id.as_str()),
            ("code_verifier", lb.verifier.as_str()),
        ];
        let answer = self.token_call(&lb.token_endpoint, &form).await.map_err(|f| match f {
            Fail::SessionEnded => AuthError::Denied,
            Fail::Error(e) => e,
        })?;
        self.token_from(answer, None, &lb.token_endpoint)
    }

    async fn token_call(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<TokenAnswer, Fail> {
        // The endpoint may come from a cached sign-in, not only from discovery.
        require_https(endpoint)?;
        let resp = self
            .http
            .post(endpoint)
            .form(form)
            .send()
            .await
            .map_err(|e| Fail::Error(self.unreachable(&e)))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| Fail::Error(self.unreachable(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                Fail::Error(AuthError::Service {
                    op: "the token endpoint",
                    message: e.to_string(),
                })
            });
        }
        match serde_json::from_slice::<OauthError>(&body) {
            Ok(e) if matches!(e.error.as_str(), "invalid_grant" | "access_denied" | "login_required") => {
                Err(Fail::SessionEnded)
            }
            Ok(e) => Err(Fail::Error(AuthError::Service {
                op: "the token endpoint",
                message: format!("{}: {}", e.error, e.error_description.unwrap_or_default()),
            })),
            Err(_) => Err(Fail::Error(AuthError::Service {
                op: "the token endpoint",
                message: format!("HTTP {status}"),
            })),
        }
    }

    fn token_from(
        &self,
        a: TokenAnswer,
        old: Option<&CachedToken>,
        token_endpoint: &str,
    ) -> Result<CachedToken, AuthError> {
        let id_token = a.id_token.ok_or_else(|| AuthError::Service {
            op: "the token endpoint",
            message: "the answer has no id_token: add the `openid` scope to pail_oidc_scopes".into(),
        })?;
        let expires = claim(&id_token, "exp")
            .and_then(|v| v.as_u64())
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
            .unwrap_or_else(|| SystemTime::now() + Duration::from_secs(a.expires_in.unwrap_or(3600)));
        let mut other = old.map(|t| t.other.clone()).unwrap_or_default();
        other.insert("tokenEndpoint".into(), token_endpoint.into());
        Ok(CachedToken {
            start_url: Some(self.profile.issuer.clone()),
            region: self.profile.region.clone(),
            access_token: id_token,
            expires_at: format_time(expires),
            client_id: Some(self.profile.client_id.clone()),
            client_secret: None,
            registration_expires_at: None,
            refresh_token: a.refresh_token.or_else(|| old.and_then(|t| t.refresh_token.clone())),
            other,
        })
    }

    /// A new ID token with the refresh token; a refusal means the session has ended.
    pub(crate) async fn refresh(&self, token: &CachedToken) -> Result<CachedToken, Fail> {
        let Some(refresh) = token.refresh_token.as_deref() else {
            return Err(Fail::SessionEnded);
        };
        let endpoint = match token.other.get("tokenEndpoint").and_then(|v| v.as_str()) {
            Some(e) => e.to_owned(),
            None => self.discover().await?.token_endpoint,
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", self.profile.client_id.as_str()),
        ];
        let answer = self.token_call(&endpoint, &form).await?;
        Ok(self.token_from(answer, Some(token), &endpoint)?)
    }

    /// STS AssumeRoleWithWebIdentity with `id_token` for the profile's role.
    pub(crate) async fn role_credentials(&self, id_token: &str) -> Result<Credentials, Fail> {
        let p = &self.profile;
        let session = claim(id_token, &p.session_claim)
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| AuthError::Service {
                op: "reading the ID token",
                message: format!("it has no `{}` claim for the session name", p.session_claim),
            })?;
        let mut req = self
            .sts
            .assume_role_with_web_identity()
            .role_arn(&p.role_arn)
            .role_session_name(&session)
            .web_identity_token(id_token);
        if let Some(d) = p.duration_seconds {
            req = req.duration_seconds(d);
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) => {
                let code = e.err().code().unwrap_or_default();
                return Err(match code {
                    "ExpiredTokenException" | "InvalidIdentityToken" => Fail::SessionEnded,
                    "AccessDenied" => Fail::Error(AuthError::NotAssigned {
                        account: p.role_arn.clone(),
                        role: session,
                        message: e.err().message().unwrap_or("not allowed").to_owned(),
                    }),
                    _ => Fail::Error(AuthError::Service {
                        op: "AssumeRoleWithWebIdentity",
                        message: format!("{code}: {}", e.err().message().unwrap_or("no message")),
                    }),
                });
            }
            Err(e) => {
                return Err(Fail::Error(AuthError::Unreachable {
                    service: "STS",
                    endpoint: self.sts_endpoint.clone(),
                    message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                }));
            }
        };
        let c = out.credentials().ok_or_else(|| AuthError::Service {
            op: "AssumeRoleWithWebIdentity",
            message: "the answer had no credentials".into(),
        })?;
        let expires = SystemTime::try_from(*c.expiration()).unwrap_or_else(|_| SystemTime::now());
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expires),
            "pail-federation",
        ))
    }
}

const DONE_PAGE: &str =
    "<!doctype html><title>pail</title><h1>Signed in</h1><p>You can close this window and go back to pail.</p>";
const FAILED_PAGE: &str =
    "<!doctype html><title>pail</title><h1>The sign-in did not complete</h1><p>Go back to pail for details.</p>";

/// Serves the loopback address until the redirect with our `state` arrives: its code, or why
/// the sign-in failed (`error=access_denied` is a denial).
async fn accept_code(listener: &TcpListener, state: &str) -> Result<String, AuthError> {
    loop {
        let (mut conn, _) = listener.accept().await.map_err(|e| AuthError::Service {
            op: "waiting for the sign-in redirect",
            message: e.to_string(),
        })?;
        let mut buf = Vec::with_capacity(2048);
        let mut chunk = [0u8; 2048];
        // A connection that sends nothing (a browser's speculative one) must not hold the
        // listener: a few seconds for the request line and headers.
        let read_head = async {
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                match conn.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), read_head).await.is_err() {
            continue;
        }
        let head = String::from_utf8_lossy(&buf);
        let target = head.split_whitespace().nth(1).unwrap_or("");
        let Some(query) = target.strip_prefix("/callback?") else {
            let _ = conn
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            continue;
        };
        let params: std::collections::HashMap<String, String> =
            form_urlencoded::parse(query.as_bytes()).into_owned().collect();
        if params.get("state").map(String::as_str) != Some(state) {
            // Not our sign-in (a stale tab): ignore it.
            let _ = conn
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
            continue;
        }
        let outcome = match (params.get("code"), params.get("error").map(String::as_str)) {
            (Some(code), None) => Ok(code.clone()),
            (_, Some("access_denied")) => Err(AuthError::Denied),
            (_, e) => Err(AuthError::Service {
                op: "the company sign-in",
                message: e.unwrap_or("no code in the redirect").to_owned(),
            }),
        };
        let page = if outcome.is_ok() { DONE_PAGE } else { FAILED_PAGE };
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
            page.len()
        );
        let _ = conn.write_all(reply.as_bytes()).await;
        return outcome;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idp_is_reached_over_https_or_on_this_machine() {
        for ok in [
            "https://login.example.com/oauth2",
            "http://127.0.0.1:8080/idp",
            "http://[::1]:1/x",
            "http://localhost/",
        ] {
            assert!(require_https(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://login.example.com/oauth2",
            "http://10.0.0.1/idp",
            "ftp://x",
            "not a url",
        ] {
            let e = require_https(bad).expect_err(bad);
            assert_eq!(e.kind(), crate::AuthErrorKind::Config, "{bad}");
        }
    }

    #[test]
    fn the_code_challenge_is_rfc_7636s() {
        // RFC 7636, appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random(64);
        assert_eq!(v.len(), 64);
        assert!(v.bytes().all(|b| UNRESERVED.contains(&b)));
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = URL_SAFE_NO_PAD.encode(br#"{"email":"alice@example.com","exp":1900000000}"#);
        let jwt = format!("e30.{payload}.sig");
        assert_eq!(
            claim(&jwt, "email")
                .and_then(|v| v.as_str().map(str::to_owned))
                .as_deref(),
            Some("alice@example.com")
        );
        assert_eq!(claim(&jwt, "exp").and_then(|v| v.as_u64()), Some(1_900_000_000));
        assert_eq!(claim("not a jwt", "email"), None);
    }
}
