//! The credentials provider of a profile that signs in interactively — IAM Identity Center, or a
//! company OIDC IdP (`flow`): role credentials from the cached sign-in,
//! renewed ahead of expiry; the access token refreshed with the refresh token before it
//! expires (the cache file written before the new token is used, since the old refresh token
//! may stop working at once); and, when the session has ended, a new device authorization
//! started out of band with [`AuthEvent::ReconsentNeeded`] while callers wait — bounded — for
//! the user to consent.
//!
//! The SDK's identity cache calls [`SsoProvider`] shortly before the credentials it holds expire;
//! the expiry reported to it is brought forward by a quarter of the lifetime (at most five
//! minutes), so renewal happens while the old credentials still work and no request fails.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, error::CredentialsError, future};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use crate::cache::{CachedToken, TokenCache};
use crate::error::AuthError;
use crate::flow::Flow;
use crate::sso::{DeviceAuthorization, Fail};

/// What the auth layer tells the CLI or the app.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum AuthEvent {
    /// A first sign-in is needed: show the code and open the page.
    SignInNeeded(DeviceAuthorization),
    /// The session has ended while in use: ask the user to consent again. File operations wait
    /// and uploads pause until they do.
    ReconsentNeeded(DeviceAuthorization),
    /// The user consented; work resumes.
    SignedIn,
    /// The sign-in did not complete (denied, expired, unreachable): the reason, for the user.
    SignInFailed(String),
}

/// What `pail status` and the app show about a drive's sign-in.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuthStatus {
    /// The profile.
    pub profile: String,
    /// When the role credentials in use expire (renewed before then).
    pub credentials_expire: Option<String>,
    /// When the access token expires (refreshed before then while the session lasts).
    pub token_expires: Option<String>,
    /// The page to consent again at, while the session has ended.
    pub sign_in_url: Option<String>,
    /// The code shown on that page.
    pub user_code: Option<String>,
    /// The last sign-in failure.
    pub last_error: Option<String>,
}

struct Inner {
    client: Flow,
    cache: TokenCache,
    /// The token in use; `None` reads the cache file again. Locked across a refresh so only one
    /// caller refreshes.
    token: tokio::sync::Mutex<Option<CachedToken>>,
    /// The access token known to be dead (refresh refused or rejected by the portal): a cache
    /// file still holding it is signed out.
    ended: Mutex<Option<String>>,
    lifetime: Mutex<Option<Duration>>,
    signing_in: AtomicBool,
    /// Until when requests wait for the sign-in under way: one window per sign-in, so once it
    /// has passed every request fails at once instead of each waiting anew.
    consent_deadline: Mutex<Option<tokio::time::Instant>>,
    /// Bumped by every completed sign-in.
    generation: watch::Sender<u64>,
    events: broadcast::Sender<AuthEvent>,
    status: Mutex<AuthStatus>,
    consent_wait: Duration,
}

/// Role credentials for one SSO (or company-federated) profile, kept fresh. Cheap to clone.
#[derive(Clone)]
pub struct SsoProvider {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SsoProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoProvider")
            .field("profile", &self.inner.client.profile())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Refresh the access token when less than this is left: the AWS CLI's 15 minutes, or a third
/// of the token's lifetime when that is shorter.
fn refresh_margin(lifetime: Option<Duration>) -> Duration {
    let cli = Duration::from_secs(15 * 60);
    lifetime.map_or(cli, |l| cli.min(l / 3))
}

/// How far ahead of expiry role credentials are renewed: a quarter of their lifetime, at most
/// five minutes.
fn renew_margin(lifetime: Duration) -> Duration {
    Duration::from_secs(300).min(lifetime / 4)
}

impl SsoProvider {
    pub(crate) fn new(client: Flow, cache: TokenCache, consent_wait: Duration) -> Self {
        let (events, _) = broadcast::channel(16);
        let status = AuthStatus {
            profile: client.profile().to_owned(),
            ..AuthStatus::default()
        };
        Self {
            inner: Arc::new(Inner {
                client,
                cache,
                token: tokio::sync::Mutex::new(None),
                ended: Mutex::new(None),
                lifetime: Mutex::new(None),
                signing_in: AtomicBool::new(false),
                consent_deadline: Mutex::new(None),
                generation: watch::channel(0).0,
                events,
                status: Mutex::new(status),
                consent_wait,
            }),
        }
    }

    /// Sign-in events from now on.
    pub fn events(&self) -> broadcast::Receiver<AuthEvent> {
        self.inner.events.subscribe()
    }

    /// The current sign-in state.
    pub fn status(&self) -> AuthStatus {
        lock(&self.inner.status).clone()
    }

    /// The token cache file of this profile.
    pub fn cache_path(&self) -> &std::path::Path {
        self.inner.cache.path()
    }

    /// How long a credentials request may wait for the user to consent again.
    pub fn consent_wait(&self) -> Duration {
        self.inner.consent_wait
    }

    fn emit(&self, event: AuthEvent) {
        let _ = self.inner.events.send(event);
    }

    fn usable(&self, t: CachedToken) -> Option<CachedToken> {
        let ended = lock(&self.inner.ended);
        (ended.as_deref() != Some(t.access_token.as_str())).then_some(t)
    }

    fn mark_ended(&self, access_token: &str) {
        *lock(&self.inner.ended) = Some(access_token.to_owned());
    }

    /// Adopts a new token: the cache file first, then memory.
    fn adopt(&self, slot: &mut Option<CachedToken>, token: CachedToken) -> Result<(), AuthError> {
        self.inner.cache.store(&token)?;
        let left = token.expires().duration_since(SystemTime::now()).ok();
        *lock(&self.inner.lifetime) = left;
        lock(&self.inner.status).token_expires = Some(token.expires_at.clone());
        *slot = Some(token);
        Ok(())
    }

    /// A live access token, refreshing it when it is close to expiry.
    async fn access_token(&self) -> Result<String, Fail> {
        let mut slot = self.inner.token.lock().await;
        if slot.is_none() {
            *slot = self.inner.cache.load().and_then(|t| self.usable(t));
        }
        let Some(token) = slot.clone() else {
            return Err(Fail::SessionEnded);
        };
        let margin = refresh_margin(*lock(&self.inner.lifetime));
        if token.valid_for(margin) {
            return Ok(token.access_token);
        }
        match self.inner.client.refresh(&token).await {
            Ok(fresh) => {
                tracing::debug!(profile = %self.inner.client.profile(), "access token refreshed");
                let access = fresh.access_token.clone();
                self.adopt(&mut slot, fresh)?;
                Ok(access)
            }
            Err(_) if token.valid_for(Duration::ZERO) => {
                // Refused or unreachable, but the token still works for now.
                Ok(token.access_token)
            }
            Err(Fail::SessionEnded) => {
                self.mark_ended(&token.access_token);
                *slot = None;
                Err(Fail::SessionEnded)
            }
            Err(e) => Err(e),
        }
    }

    /// Role credentials, or why not.
    async fn try_credentials(&self) -> Result<Credentials, Fail> {
        let access = self.access_token().await?;
        match self.inner.client.role_credentials(&access).await {
            Ok(c) => Ok(c),
            Err(Fail::SessionEnded) => {
                self.mark_ended(&access);
                *self.inner.token.lock().await = None;
                Err(Fail::SessionEnded)
            }
            Err(e) => Err(e),
        }
    }

    /// Role credentials, waiting (up to the consent wait) for the user to consent again when
    /// the session has ended.
    pub async fn credentials(&self) -> Result<Credentials, AuthError> {
        loop {
            let mut signed_in = self.inner.generation.subscribe();
            signed_in.borrow_and_update();
            match self.try_credentials().await {
                Ok(c) => {
                    let expiry = c.expiry().unwrap_or_else(SystemTime::now);
                    let lifetime = expiry.duration_since(SystemTime::now()).unwrap_or_default();
                    {
                        let mut st = lock(&self.inner.status);
                        st.credentials_expire = Some(crate::cache::format_time(expiry));
                        st.sign_in_url = None;
                        st.user_code = None;
                    }
                    let report = expiry.checked_sub(renew_margin(lifetime)).unwrap_or(expiry);
                    return Ok(Credentials::new(
                        c.access_key_id(),
                        c.secret_access_key(),
                        c.session_token().map(str::to_owned),
                        Some(report),
                        "pail-sso",
                    ));
                }
                Err(Fail::Error(e)) => return Err(e),
                Err(Fail::SessionEnded) => {
                    self.begin_sign_in(true);
                    let deadline = *lock(&self.inner.consent_deadline)
                        .get_or_insert_with(|| tokio::time::Instant::now() + self.inner.consent_wait);
                    if tokio::time::timeout_at(deadline, signed_in.changed()).await.is_err() {
                        let e = AuthError::SignInNeeded {
                            start_url: self.inner.client.sign_in_url().to_owned(),
                        };
                        tracing::warn!(profile = %self.inner.client.profile(), waited = ?self.inner.consent_wait, "no consent yet; failing this request: {e}");
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Starts a device authorization in the background unless one is running.
    fn begin_sign_in(&self, reconsent: bool) {
        if self.inner.signing_in.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.run_sign_in(reconsent).await;
        });
    }

    /// One device authorization: start it, announce it, wait for the user, adopt the token.
    /// The caller has set `signing_in`; it is cleared here.
    async fn run_sign_in(&self, reconsent: bool) -> Result<(), AuthError> {
        let result = async {
            let reuse = self.inner.cache.load();
            let dev = self.inner.client.start(reuse.as_ref()).await?;
            {
                let mut st = lock(&self.inner.status);
                st.sign_in_url = Some(dev.verification_uri_complete.clone());
                st.user_code = Some(dev.user_code.clone());
            }
            tracing::info!(profile = %self.inner.client.profile(), reconsent, "waiting for the user to sign in in the browser");
            self.emit(if reconsent {
                AuthEvent::ReconsentNeeded(dev.clone())
            } else {
                AuthEvent::SignInNeeded(dev.clone())
            });
            let token = self.inner.client.wait(&dev).await?;
            let mut slot = self.inner.token.lock().await;
            self.adopt(&mut slot, token)
        }
        .await;
        *lock(&self.inner.consent_deadline) = None;
        self.inner.signing_in.store(false, Ordering::Release);
        match &result {
            Ok(()) => {
                tracing::info!(profile = %self.inner.client.profile(), "signed in");
                {
                    let mut st = lock(&self.inner.status);
                    st.last_error = None;
                    st.sign_in_url = None;
                    st.user_code = None;
                }
                self.inner.generation.send_modify(|g| *g += 1);
                self.emit(AuthEvent::SignedIn);
            }
            Err(e) => {
                tracing::warn!(profile = %self.inner.client.profile(), "sign-in failed: {e}");
                lock(&self.inner.status).last_error = Some(e.to_string());
                self.emit(AuthEvent::SignInFailed(e.to_string()));
            }
        }
        result
    }

    /// Makes sure there is a live session: uses the cached one when it works, else runs a
    /// device authorization (announced as [`AuthEvent::SignInNeeded`]; subscribe to
    /// [`Self::events`] first to show it) and waits for the user. `force` always signs in anew.
    pub async fn sign_in(&self, force: bool) -> Result<(), AuthError> {
        if !force {
            match self.try_credentials().await {
                Ok(_) => return Ok(()),
                Err(Fail::Error(e)) => return Err(e),
                Err(Fail::SessionEnded) => {}
            }
        }
        let mut events = self.events();
        if !self.inner.signing_in.swap(true, Ordering::AcqRel) {
            self.run_sign_in(false).await?;
            // The session is live; check the role too, so a bad assignment shows now.
            return match self.try_credentials().await {
                Ok(_) | Err(Fail::SessionEnded) => Ok(()),
                Err(Fail::Error(e)) => Err(e),
            };
        }
        loop {
            match events.recv().await {
                Ok(AuthEvent::SignedIn) => return Ok(()),
                Ok(AuthEvent::SignInFailed(message)) => return Err(AuthError::Service { op: "sign-in", message }),
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => {
                    return Err(AuthError::SignInNeeded {
                        start_url: self.inner.client.sign_in_url().to_owned(),
                    });
                }
            }
        }
    }
}

impl ProvideCredentials for SsoProvider {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(
            async move { self.credentials().await.map_err(CredentialsError::provider_error) },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_scale_down_for_short_lifetimes() {
        assert_eq!(refresh_margin(None), Duration::from_secs(900));
        assert_eq!(refresh_margin(Some(Duration::from_secs(30))), Duration::from_secs(10));
        assert_eq!(renew_margin(Duration::from_secs(3600)), Duration::from_secs(300));
        assert_eq!(renew_margin(Duration::from_secs(20)), Duration::from_secs(5));
    }
}
