//! The sign-in of one drive, as the window shows it: a [`DriveSession`] owns the drive's
//! credentials ([`pail_auth::Auth`]) and turns its events into a [`SignInState`] the panel
//! draws — the page and code while the user signs in, "Signed in", "Session expired — Sign in
//! again" when the session ends (pending uploads wait; nothing fails), or why it did not
//! complete, with a Retry. The state lives in a `watch` channel, so the UI reads it without
//! blocking and tests wait for it without sleeping.

use std::path::PathBuf;
use std::sync::Arc;

use pail_auth::{Auth, AuthConfig, AuthEvent, Endpoints, Source};
use pail_drives::{Drive, DriveAuth};
use tokio::sync::watch;

/// Where a drive's sign-in stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInState {
    /// No sign-in attempted yet (or none needed).
    NotSignedIn,
    /// Contacting the sign-in service.
    Starting,
    /// Waiting for the user in the browser: the page and the code it shows (empty for a company
    /// IdP, which has no code to compare).
    Waiting {
        /// The page.
        url: String,
        /// The code.
        code: String,
    },
    /// Signed in.
    SignedIn,
    /// The session ended while in use: one click opens the page again.
    SessionExpired {
        /// The page.
        url: String,
        /// The code.
        code: String,
    },
    /// The sign-in did not complete: the reason.
    Failed(String),
}

impl SignInState {
    /// The one-line state shown in the drive list.
    pub fn label(&self) -> String {
        match self {
            Self::NotSignedIn => "Not signed in".into(),
            Self::Starting | Self::Waiting { .. } => "Signing in".into(),
            Self::SignedIn => "Signed in".into(),
            Self::SessionExpired { .. } => "Session expired — Sign in again".into(),
            Self::Failed(why) => format!("Error: {why}"),
        }
    }
}

/// One drive's credentials and sign-in state.
#[derive(Debug)]
pub struct DriveSession {
    auth: Auth,
    state: watch::Sender<SignInState>,
    rt: tokio::runtime::Handle,
}

impl DriveSession {
    /// Reads the drive's profile (nothing is contacted). `Err` with the reason to show when
    /// the profile cannot be used or needs no sign-in.
    pub fn open(
        rt: &tokio::runtime::Handle,
        drive: &Drive,
        endpoints: Endpoints,
        token_cache_dir: Option<PathBuf>,
    ) -> Result<Arc<Self>, String> {
        // Keys and the default chain need no sign-in; the drive mounts with them directly.
        let DriveAuth::Profile { profile, config_file } = &drive.auth else {
            return Err("this drive signs in with access keys; there is nothing to sign in to".into());
        };
        let config = AuthConfig {
            endpoints,
            token_cache_dir,
            ..AuthConfig::new(Source::Profile {
                name: profile.clone(),
                config_file: config_file.clone(),
                credentials_file: None,
            })
        };
        let auth = rt.block_on(Auth::new(config)).map_err(|e| e.to_string())?;
        let Some(sso) = auth.sso() else {
            return Err("this profile needs no sign-in in the browser".into());
        };
        let (state, _) = watch::channel(SignInState::NotSignedIn);
        let session = Arc::new(Self {
            auth: auth.clone(),
            state,
            rt: rt.clone(),
        });
        let mut events = sso.events();
        let weak = Arc::downgrade(&session);
        rt.spawn(async move {
            while let Ok(event) = events.recv().await {
                let Some(s) = weak.upgrade() else { return };
                let next = match event {
                    AuthEvent::SignInNeeded(d) => SignInState::Waiting {
                        url: d.verification_uri_complete,
                        code: d.user_code,
                    },
                    AuthEvent::ReconsentNeeded(d) => SignInState::SessionExpired {
                        url: d.verification_uri_complete,
                        code: d.user_code,
                    },
                    AuthEvent::SignedIn => SignInState::SignedIn,
                    AuthEvent::SignInFailed(why) => SignInState::Failed(why),
                    _ => continue,
                };
                s.state.send_replace(next);
            }
        });
        Ok(session)
    }

    /// Starts signing in (or checks the cached sign-in) in the background.
    pub fn sign_in(self: &Arc<Self>) {
        self.state.send_replace(SignInState::Starting);
        let this = self.clone();
        self.rt.spawn(async move {
            let Some(sso) = this.auth.sso() else { return };
            let result = sso.sign_in(false).await;
            this.state.send_modify(|st| {
                // The events report most outcomes first; this answers only for a sign-in still
                // under way (a cached sign-in that worked, a failure no event reported). A
                // later state stands: the session may have ended again meanwhile, and the
                // drive must keep saying so.
                if !matches!(st, SignInState::Starting | SignInState::Waiting { .. }) {
                    return;
                }
                *st = match result {
                    Ok(()) => SignInState::SignedIn,
                    Err(e) => SignInState::Failed(e.to_string()),
                };
            });
        });
    }

    /// The current state.
    pub fn state(&self) -> SignInState {
        self.state.borrow().clone()
    }

    /// Changes of the state, for whoever waits on them.
    pub fn watch(&self) -> watch::Receiver<SignInState> {
        self.state.subscribe()
    }

    /// The drive's credentials.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }
}
