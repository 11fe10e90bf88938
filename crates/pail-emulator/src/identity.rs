//! The identity side of the emulator: IAM Identity Center's OIDC service (client registration,
//! device authorization, tokens), its portal (role credentials), STS GetCallerIdentity (and, in
//! `idp`, a company OIDC provider with AssumeRoleWithWebIdentity), and the
//! table of credentials it issued, which the S3 server checks every request against.
//!
//! Lifetimes are configurable down to seconds so tests can watch tokens, credentials and whole
//! sessions expire. A user signs in by approving a device code on the verification page
//! (`identity_http`) or through [`Identity::decide`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use rand::Rng;

/// The account the emulator's Identity Center assigns its users to.
pub const ACCOUNT_ID: &str = "111122223333";
/// The permission set (role) every user is assigned.
pub const ROLE_NAME: &str = "S3Users";
/// The role id of [`ROLE_NAME`]: `aws:userid` of a session is `<this>:<user>`.
pub const ROLE_ID: &str = "AROAEMULATORS3USERS";

/// How long things live. Defaults are the real service's order of magnitude, shortened where
/// tests would otherwise wait.
#[derive(Debug, Clone)]
pub struct Lifetimes {
    /// A client registration (RegisterClient).
    pub registration: Duration,
    /// A device code waiting for approval.
    pub device_code: Duration,
    /// The polling interval the device authorization asks for.
    pub poll_interval: Duration,
    /// An access token.
    pub access_token: Duration,
    /// The sign-in session: refresh is refused and tokens die when it ends.
    pub session: Duration,
    /// Role credentials from GetRoleCredentials.
    pub role_credentials: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Self {
            registration: Duration::from_secs(90 * 24 * 3600),
            device_code: Duration::from_secs(600),
            poll_interval: Duration::from_secs(1),
            access_token: Duration::from_secs(3600),
            session: Duration::from_secs(8 * 3600),
            role_credentials: Duration::from_secs(3600),
        }
    }
}

/// An error the identity services answer with: (HTTP status, exception name, message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceError {
    pub status: u16,
    pub exception: &'static str,
    pub message: String,
}

pub(crate) fn err(status: u16, exception: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError {
        status,
        exception,
        message: message.into(),
    }
}

/// What the S3 server and STS know about one access key the emulator issued.
#[derive(Debug, Clone)]
pub(crate) struct IssuedKey {
    pub secret: String,
    pub session_token: String,
    pub user_id: String,
    pub arn: String,
    pub expires: SystemTime,
}

#[derive(Debug)]
struct Client {
    secret: String,
    expires: SystemTime,
    refreshable: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Pending,
    Approved(String),
    Denied,
}

#[derive(Debug)]
struct Device {
    client_id: String,
    user_code: String,
    expires: SystemTime,
    decision: Decision,
    last_poll: Option<SystemTime>,
}

#[derive(Debug)]
struct Session {
    user: String,
    ends: SystemTime,
}

#[derive(Debug)]
struct Token {
    session: u64,
    expires: SystemTime,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) lifetimes: Lifetimes,
    clients: HashMap<String, Client>,
    devices: HashMap<String, Device>,
    sessions: HashMap<u64, Session>,
    next_session: u64,
    access_tokens: HashMap<String, Token>,
    refresh_tokens: HashMap<String, (u64, String)>,
    keys: HashMap<String, IssuedKey>,
    /// Every secret handed out (client secrets, device codes, tokens, secret keys), for tests
    /// that check none of them reaches a log.
    pub(crate) secrets: Vec<String>,
    /// The company OIDC provider (`idp`).
    pub(crate) idp: crate::idp::IdpState,
}

/// Tokens from CreateToken.
#[derive(Debug)]
pub(crate) struct Tokens {
    pub access_token: String,
    pub expires_in: u64,
    pub refresh_token: Option<String>,
}

/// A started device authorization.
#[derive(Debug)]
pub(crate) struct DeviceStart {
    pub device_code: String,
    pub user_code: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// The emulated Identity Center + STS.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    state: Arc<Mutex<State>>,
}

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const TOKEN_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn left(until: SystemTime, now: SystemTime) -> u64 {
    until.duration_since(now).map(|d| d.as_secs()).unwrap_or(0)
}

impl Identity {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn secret(&self, st: &mut State, len: usize) -> String {
        let s = random_string(len, TOKEN_CHARS);
        st.secrets.push(s.clone());
        s
    }

    /// Replaces the lifetimes for everything issued from now on.
    pub fn set_lifetimes(&self, lifetimes: Lifetimes) {
        self.state().lifetimes = lifetimes;
    }

    /// RegisterClient. A client registered with scopes gets refresh tokens.
    pub(crate) fn register(&self, scopes: &[String]) -> (String, String, u64, u64) {
        let mut st = self.state();
        let now = SystemTime::now();
        let id = format!("client-{}", random_string(16, UPPER));
        let secret = self.secret(&mut st, 64);
        let expires = now + st.lifetimes.registration;
        st.clients.insert(
            id.clone(),
            Client {
                secret: secret.clone(),
                expires,
                refreshable: !scopes.is_empty(),
            },
        );
        let epoch = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        (id, secret, epoch(now), epoch(expires))
    }

    fn check_client(st: &State, id: &str, secret: &str) -> Result<bool, ServiceError> {
        match st.clients.get(id) {
            Some(c) if c.secret == secret && c.expires > SystemTime::now() => Ok(c.refreshable),
            Some(c) if c.secret == secret => Err(err(401, "InvalidClientException", "Client registration has expired")),
            _ => Err(err(401, "InvalidClientException", "Invalid client")),
        }
    }

    /// StartDeviceAuthorization.
    pub(crate) fn start_device(&self, client_id: &str, client_secret: &str) -> Result<DeviceStart, ServiceError> {
        let mut st = self.state();
        Self::check_client(&st, client_id, client_secret)?;
        let device_code = self.secret(&mut st, 48);
        let user_code = format!("{}-{}", random_string(4, &UPPER[..26]), random_string(4, &UPPER[..26]));
        let l = st.lifetimes.clone();
        st.devices.insert(
            device_code.clone(),
            Device {
                client_id: client_id.to_owned(),
                user_code: user_code.clone(),
                expires: SystemTime::now() + l.device_code,
                decision: Decision::Pending,
                last_poll: None,
            },
        );
        Ok(DeviceStart {
            device_code,
            user_code,
            expires_in: l.device_code.as_secs(),
            interval: l.poll_interval.as_secs(),
        })
    }

    /// What a user does on the verification page: approve signing in as `user`, or deny.
    /// `false` when no pending authorization has this user code.
    pub fn decide(&self, user_code: &str, user: Option<&str>) -> bool {
        let mut st = self.state();
        let now = SystemTime::now();
        let Some(d) = st
            .devices
            .values_mut()
            .find(|d| d.user_code.eq_ignore_ascii_case(user_code) && d.expires > now)
        else {
            return false;
        };
        if d.decision != Decision::Pending {
            return false;
        }
        d.decision = match user {
            Some(u) => Decision::Approved(u.to_owned()),
            None => Decision::Denied,
        };
        true
    }

    fn issue_tokens(&self, st: &mut State, session: u64, refreshable: bool, client_id: &str) -> Tokens {
        let now = SystemTime::now();
        let ends = st.sessions.get(&session).map(|s| s.ends).unwrap_or(now);
        let expires = (now + st.lifetimes.access_token).min(ends);
        let access_token = self.secret(st, 96);
        st.access_tokens
            .insert(access_token.clone(), Token { session, expires });
        let refresh_token = refreshable.then(|| {
            let r = self.secret(st, 96);
            st.refresh_tokens.insert(r.clone(), (session, client_id.to_owned()));
            r
        });
        Tokens {
            access_token,
            expires_in: left(expires, now),
            refresh_token,
        }
    }

    /// CreateToken with the device code grant.
    pub(crate) fn token_for_device(&self, client_id: &str, secret: &str, code: &str) -> Result<Tokens, ServiceError> {
        let mut st = self.state();
        let refreshable = Self::check_client(&st, client_id, secret)?;
        let now = SystemTime::now();
        let interval = st.lifetimes.poll_interval;
        let Some(d) = st.devices.get_mut(code).filter(|d| d.client_id == client_id) else {
            return Err(err(400, "InvalidGrantException", "Invalid grant provided"));
        };
        if d.expires <= now {
            return Err(err(400, "ExpiredTokenException", "Device code has expired"));
        }
        let too_soon = d
            .last_poll
            .is_some_and(|t| now.duration_since(t).unwrap_or_default() + Duration::from_millis(200) < interval);
        d.last_poll = Some(now);
        let user = match &d.decision {
            Decision::Denied => return Err(err(400, "AccessDeniedException", "Access denied")),
            Decision::Pending if too_soon => return Err(err(400, "SlowDownException", "Client is polling too fast")),
            Decision::Pending => return Err(err(400, "AuthorizationPendingException", "Authorization is pending")),
            Decision::Approved(u) => u.clone(),
        };
        st.devices.remove(code);
        let id = st.next_session;
        st.next_session += 1;
        let ends = now + st.lifetimes.session;
        st.sessions.insert(id, Session { user, ends });
        Ok(self.issue_tokens(&mut st, id, refreshable, client_id))
    }

    /// CreateToken with the refresh token grant. The old refresh token stops working.
    pub(crate) fn token_for_refresh(
        &self,
        client_id: &str,
        secret: &str,
        refresh: &str,
    ) -> Result<Tokens, ServiceError> {
        let mut st = self.state();
        Self::check_client(&st, client_id, secret)?;
        let now = SystemTime::now();
        let Some((session, owner)) = st.refresh_tokens.get(refresh).cloned() else {
            return Err(err(400, "InvalidGrantException", "Invalid refresh token provided"));
        };
        let live = st.sessions.get(&session).is_some_and(|s| s.ends > now);
        if owner != client_id || !live {
            return Err(err(400, "InvalidGrantException", "Invalid refresh token provided"));
        }
        st.refresh_tokens.remove(refresh);
        Ok(self.issue_tokens(&mut st, session, true, client_id))
    }

    /// GetRoleCredentials for the session of `access_token`.
    pub(crate) fn role_credentials(
        &self,
        access_token: &str,
        account_id: &str,
        role_name: &str,
    ) -> Result<(IssuedKey, String), ServiceError> {
        let mut st = self.state();
        let now = SystemTime::now();
        let user = st
            .access_tokens
            .get(access_token)
            .filter(|t| t.expires > now)
            .and_then(|t| st.sessions.get(&t.session))
            .filter(|s| s.ends > now)
            .map(|s| s.user.clone())
            .ok_or_else(|| err(401, "UnauthorizedException", "Session token not found or invalid"))?;
        if account_id != ACCOUNT_ID || role_name != ROLE_NAME {
            return Err(err(403, "ForbiddenException", "No access"));
        }
        let lifetime = st.lifetimes.role_credentials;
        Ok(self.issue_key(
            &mut st,
            format!("{ROLE_ID}:{user}"),
            format!("arn:aws:sts::{ACCOUNT_ID}:assumed-role/AWSReservedSSO_{ROLE_NAME}/{user}"),
            lifetime,
        ))
    }

    /// Issues temporary credentials for `user_id`, which S3 and STS accept until they expire:
    /// (the key, its access key id).
    pub(crate) fn issue_key(
        &self,
        st: &mut State,
        user_id: String,
        arn: String,
        lifetime: Duration,
    ) -> (IssuedKey, String) {
        let access_key = format!("ASIA{}", random_string(16, UPPER));
        let key = IssuedKey {
            secret: self.secret(st, 40),
            session_token: self.secret(st, 120),
            user_id,
            arn,
            expires: SystemTime::now() + lifetime,
        };
        st.keys.insert(access_key.clone(), key.clone());
        (key, access_key)
    }

    /// The issued key `access_key`, if any (expired ones included).
    pub(crate) fn issued(&self, access_key: &str) -> Option<IssuedKey> {
        self.state().keys.get(access_key).cloned()
    }

    /// Ends every sign-in session now, as when the session duration runs out: refresh is
    /// refused and access tokens stop working. Role credentials already issued live on.
    pub fn end_sessions(&self) {
        let now = SystemTime::now();
        let mut st = self.state();
        for s in st.sessions.values_mut() {
            s.ends = now;
        }
        Self::idp_end_sessions(&mut st);
    }

    /// Every secret handed out so far: client secrets, device codes, access and refresh
    /// tokens, secret access keys and session tokens.
    pub fn issued_secrets(&self) -> Vec<String> {
        self.state().secrets.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_flow_refresh_and_session_end() {
        let id = Identity::default();
        id.set_lifetimes(Lifetimes {
            poll_interval: Duration::ZERO,
            ..Lifetimes::default()
        });
        let (client, secret, _, _) = id.register(&["sso:account:access".into()]);
        let start = id.start_device(&client, &secret).expect("start");
        let pending = id
            .token_for_device(&client, &secret, &start.device_code)
            .expect_err("pending");
        assert_eq!(pending.exception, "AuthorizationPendingException");
        assert!(id.decide(&start.user_code, Some("alice@example.com")));
        let tokens = id
            .token_for_device(&client, &secret, &start.device_code)
            .expect("token");
        let refresh = tokens.refresh_token.expect("refreshable client");
        let (key, _) = id
            .role_credentials(&tokens.access_token, ACCOUNT_ID, ROLE_NAME)
            .expect("creds");
        assert_eq!(key.user_id, format!("{ROLE_ID}:alice@example.com"));
        let forbidden = id
            .role_credentials(&tokens.access_token, ACCOUNT_ID, "Admins")
            .expect_err("no");
        assert_eq!(forbidden.exception, "ForbiddenException");
        let renewed = id.token_for_refresh(&client, &secret, &refresh).expect("refresh");
        let reused = id.token_for_refresh(&client, &secret, &refresh).expect_err("rotated");
        assert_eq!(reused.exception, "InvalidGrantException");
        id.end_sessions();
        let ended = id
            .token_for_refresh(&client, &secret, &renewed.refresh_token.expect("new"))
            .expect_err("ended");
        assert_eq!(ended.exception, "InvalidGrantException");
        let unauthorized = id
            .role_credentials(&renewed.access_token, ACCOUNT_ID, ROLE_NAME)
            .expect_err("ended");
        assert_eq!(unauthorized.status, 401);
    }

    #[test]
    fn a_denied_device_code_answers_access_denied() {
        let id = Identity::default();
        let (client, secret, _, _) = id.register(&[]);
        let start = id.start_device(&client, &secret).expect("start");
        assert!(id.decide(&start.user_code, None));
        let denied = id
            .token_for_device(&client, &secret, &start.device_code)
            .expect_err("denied");
        assert_eq!(denied.exception, "AccessDeniedException");
        assert!(id.start_device(&client, "wrong").is_err());
    }
}
