//! A company OIDC identity provider (as Okta, Entra ID or ADFS would be) and STS
//! AssumeRoleWithWebIdentity trusting it: sign-in without IAM Identity Center.
//!
//! The provider speaks OAuth 2.0 authorization code + PKCE (S256) on a loopback redirect: a
//! browser — or a test acting as one, `browser::authorize` — approves on the authorize page
//! and is redirected to the client's `http://127.0.0.1:<port>/…` with a code, which the token
//! endpoint exchanges (checking the verifier) for an ID token and a refresh token. ID tokens
//! are JWT-shaped (`header.claims.signature`, claims `iss`, `sub`, `email`, `aud`, `exp`; the
//! emulator's `sub` is the user's email, where a real IdP's is an opaque id); STS accepts a
//! token it issued and still valid, and, like a role trust policy requiring
//! `sts:RoleSessionName` = `${<issuer>:sub}`, only with the token's `sub` as the session name —
//! so `aws:userid` (`<role id>:<sub>`) names the person and the per-user policy holds.

use std::collections::HashMap;
use std::time::SystemTime;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::identity::{ACCOUNT_ID, Identity, IssuedKey, ServiceError, err, left};

/// The client id the emulated company IdP knows.
pub const IDP_CLIENT_ID: &str = "pail-desktop";
/// The role federated users assume.
pub const FEDERATED_ROLE: &str = "PailHomeFolders";
/// Its role id: `aws:userid` of a federated session is `<this>:<email>`.
pub const FEDERATED_ROLE_ID: &str = "AROAEMULATORFEDERATED";

/// The role ARN federated users assume.
pub fn federated_role_arn() -> String {
    format!("arn:aws:iam::{ACCOUNT_ID}:role/{FEDERATED_ROLE}")
}

#[derive(Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    user: String,
    expires: SystemTime,
}

#[derive(Debug)]
struct IdToken {
    user: String,
    expires: SystemTime,
}

/// The provider's state, kept inside [`Identity`]'s.
#[derive(Debug, Default)]
pub(crate) struct IdpState {
    grants: HashMap<String, Grant>,
    id_tokens: HashMap<String, IdToken>,
    /// Refresh token → (sign-in session, user).
    refresh: HashMap<String, (u64, String)>,
    /// Sign-in session → when it ends.
    sessions: HashMap<u64, SystemTime>,
    next_session: u64,
}

/// What the token endpoint answers.
#[derive(Debug)]
pub(crate) struct IdpTokens {
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
}

fn b64(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

impl Identity {
    /// The authorize page's decision: approve as `user` (a redirect target with a code) or deny
    /// (one with `error=access_denied`). `Err` for a request that is not valid (wrong client,
    /// redirect not on 127.0.0.1, no S256 challenge).
    pub(crate) fn idp_authorize(
        &self,
        q: &HashMap<String, String>,
        user: Option<&str>,
    ) -> Result<String, ServiceError> {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
        let redirect = get("redirect_uri");
        if get("client_id") != IDP_CLIENT_ID {
            return Err(err(400, "invalid_client", "unknown client_id"));
        }
        if !redirect.starts_with("http://127.0.0.1:") {
            return Err(err(
                400,
                "invalid_request",
                "redirect_uri must be a 127.0.0.1 loopback address",
            ));
        }
        if get("response_type") != "code" || get("code_challenge_method") != "S256" || get("code_challenge").is_empty()
        {
            return Err(err(
                400,
                "invalid_request",
                "response_type=code with an S256 code_challenge is required",
            ));
        }
        let state = form_urlencoded::byte_serialize(get("state").as_bytes()).collect::<String>();
        let Some(user) = user else {
            return Ok(format!("{redirect}?error=access_denied&state={state}"));
        };
        let mut st = self.state();
        let code = self.secret(&mut st, 43);
        let expires = SystemTime::now() + st.lifetimes.device_code;
        st.idp.grants.insert(
            code.clone(),
            Grant {
                client_id: IDP_CLIENT_ID.to_owned(),
                redirect_uri: redirect.to_owned(),
                challenge: get("code_challenge").to_owned(),
                user: user.to_owned(),
                expires,
            },
        );
        Ok(format!("{redirect}?code={code}&state={state}"))
    }

    fn idp_issue(&self, st: &mut crate::identity::State, session: u64, user: &str) -> IdpTokens {
        let now = SystemTime::now();
        let ends = st.idp.sessions.get(&session).copied().unwrap_or(now);
        let expires = (now + st.lifetimes.access_token).min(ends);
        let exp = expires
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = serde_json::json!({
            "iss": "pail-emulator-idp", "aud": IDP_CLIENT_ID, "sub": user,
            "email": user, "exp": exp,
        });
        let signature = self.secret(st, 43);
        let id_token = format!(
            "{}.{}.{signature}",
            b64(br#"{"alg":"RS256","typ":"JWT"}"#),
            b64(claims.to_string().as_bytes())
        );
        st.secrets.push(id_token.clone());
        st.idp.id_tokens.insert(
            id_token.clone(),
            IdToken {
                user: user.to_owned(),
                expires,
            },
        );
        let refresh_token = self.secret(st, 64);
        st.idp.refresh.insert(refresh_token.clone(), (session, user.to_owned()));
        IdpTokens {
            id_token,
            access_token: self.secret(st, 64),
            refresh_token,
            expires_in: left(expires, now),
        }
    }

    /// The token endpoint: `authorization_code` (code, redirect_uri, code_verifier checked) or
    /// `refresh_token` (rotated; refused once the sign-in session has ended).
    pub(crate) fn idp_token(&self, form: &HashMap<String, String>) -> Result<IdpTokens, ServiceError> {
        let get = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
        if get("client_id") != IDP_CLIENT_ID {
            return Err(err(401, "invalid_client", "unknown client_id"));
        }
        let mut st = self.state();
        let now = SystemTime::now();
        match get("grant_type") {
            "authorization_code" => {
                let Some(g) = st.idp.grants.remove(get("code")) else {
                    return Err(err(400, "invalid_grant", "the code is not valid or was used"));
                };
                let challenge = b64(&Sha256::digest(get("code_verifier").as_bytes()));
                if g.expires <= now || g.client_id != get("client_id") || g.redirect_uri != get("redirect_uri") {
                    return Err(err(400, "invalid_grant", "the code is not valid for this request"));
                }
                if challenge != g.challenge {
                    return Err(err(400, "invalid_grant", "PKCE verification failed"));
                }
                let session = st.idp.next_session;
                st.idp.next_session += 1;
                let ends = now + st.lifetimes.session;
                st.idp.sessions.insert(session, ends);
                Ok(self.idp_issue(&mut st, session, &g.user))
            }
            "refresh_token" => {
                let Some((session, user)) = st.idp.refresh.remove(get("refresh_token")) else {
                    return Err(err(400, "invalid_grant", "the refresh token is not valid"));
                };
                if st.idp.sessions.get(&session).is_none_or(|e| *e <= now) {
                    return Err(err(400, "invalid_grant", "the sign-in session has ended"));
                }
                Ok(self.idp_issue(&mut st, session, &user))
            }
            _ => Err(err(400, "unsupported_grant_type", "unsupported grant_type")),
        }
    }

    /// STS AssumeRoleWithWebIdentity: (issued key, its access key id), or the STS error code.
    pub(crate) fn assume_role_with_web_identity(
        &self,
        role_arn: &str,
        session_name: &str,
        token: &str,
    ) -> Result<(IssuedKey, String), ServiceError> {
        let mut st = self.state();
        let now = SystemTime::now();
        let user = match st.idp.id_tokens.get(token) {
            None => return Err(err(400, "InvalidIdentityToken", "The ID token is not valid")),
            Some(t) if t.expires <= now => return Err(err(400, "ExpiredTokenException", "Token is expired")),
            Some(t) => t.user.clone(),
        };
        if role_arn != federated_role_arn() {
            return Err(err(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ));
        }
        if session_name != user {
            // The role's trust policy: sts:RoleSessionName must be the token's sub.
            return Err(err(
                403,
                "AccessDenied",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            ));
        }
        let lifetime = st.lifetimes.role_credentials;
        Ok(self.issue_key(
            &mut st,
            format!("{FEDERATED_ROLE_ID}:{user}"),
            format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/{FEDERATED_ROLE}/{user}"),
            lifetime,
        ))
    }

    /// Ends the company IdP's sign-in sessions too (called by `end_sessions`).
    pub(crate) fn idp_end_sessions(st: &mut crate::identity::State) {
        let now = SystemTime::now();
        for e in st.idp.sessions.values_mut() {
            *e = now;
        }
        for t in st.idp.id_tokens.values_mut() {
            t.expires = t.expires.min(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authorize(id: &Identity, verifier: &str) -> String {
        let challenge = b64(&Sha256::digest(verifier.as_bytes()));
        let q: HashMap<String, String> = [
            ("client_id", IDP_CLIENT_ID),
            ("redirect_uri", "http://127.0.0.1:5000/callback"),
            ("response_type", "code"),
            ("code_challenge_method", "S256"),
            ("code_challenge", &challenge),
            ("state", "s1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let target = id.idp_authorize(&q, Some("alice@example.com")).expect("authorize");
        target
            .split("code=")
            .nth(1)
            .and_then(|c| c.split('&').next())
            .expect("code")
            .to_owned()
    }

    fn exchange(id: &Identity, code: &str, verifier: &str) -> Result<IdpTokens, ServiceError> {
        let form: HashMap<String, String> = [
            ("client_id", IDP_CLIENT_ID),
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", "http://127.0.0.1:5000/callback"),
            ("code_verifier", verifier),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        id.idp_token(&form)
    }

    #[test]
    fn pkce_code_exchange_then_web_identity_for_the_tokens_user_only() {
        let id = Identity::default();
        let code = authorize(&id, "the-verifier");
        assert_eq!(
            exchange(&id, &code, "another").expect_err("bad verifier").exception,
            "invalid_grant"
        );
        let code = authorize(&id, "the-verifier");
        let tokens = exchange(&id, &code, "the-verifier").expect("tokens");
        assert!(exchange(&id, &code, "the-verifier").is_err(), "a code works once");
        let role = federated_role_arn();
        let denied = id
            .assume_role_with_web_identity(&role, "bob@example.com", &tokens.id_token)
            .expect_err("someone else's name");
        assert_eq!(denied.exception, "AccessDenied");
        let (key, _) = id
            .assume_role_with_web_identity(&role, "alice@example.com", &tokens.id_token)
            .expect("credentials");
        assert_eq!(key.user_id, format!("{FEDERATED_ROLE_ID}:alice@example.com"));
        id.end_sessions();
        let ended = id
            .assume_role_with_web_identity(&role, "alice@example.com", &tokens.id_token)
            .expect_err("ended");
        assert_eq!(ended.exception, "ExpiredTokenException");
    }
}
