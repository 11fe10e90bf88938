//! Credentials for the CLI: which source the options and environment choose, signing in to
//! IAM Identity Center or a company IdP (printing the page and code, opening the browser when
//! it can), asking
//! again when the session ends during a mount, and `pail login`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use pail_auth::{Auth, AuthConfig, AuthErrorKind, AuthEvent, DeviceAuthorization, Source};

use crate::UsageError;

/// Options choosing the credentials, shared by `pail mount` and `pail login`.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthArgs {
    /// A profile of the AWS config file: access keys, IAM Identity Center (SSO), company IdP
    /// (`pail_oidc_issuer`), role or credential process (default: `AWS_PROFILE`; with neither, environment keys or the
    /// default chain).
    #[arg(long)]
    pub profile: Option<String>,
    /// The AWS config file to read profiles from (default: `AWS_CONFIG_FILE` or ~/.aws/config).
    #[arg(long, value_name = "FILE")]
    pub config_file: Option<PathBuf>,
    /// Do not open a browser for IAM Identity Center sign-in; only print the page and code.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds a file operation waits for you to sign in again when the IAM Identity Center
    /// session ends, before it fails with "permission denied" (uploads wait indefinitely).
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0)]
    pub consent_wait: f64,
    /// Access keys of a drive from the drives file (never from the command line).
    #[arg(skip)]
    pub keys: Option<KeyPair>,
}

/// An access key id and its secret; `Debug` shows only the id.
#[derive(Clone, Default)]
pub struct KeyPair {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Options of `pail login`.
#[derive(Debug, Clone, clap::Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub auth: AuthArgs,
    /// Sign in again even when the cached sign-in is still valid.
    #[arg(long)]
    pub force: bool,
}

/// Which source the options and environment choose: explicit or `AWS_PROFILE` profile first,
/// then keys in the environment, then the SDK's default chain.
fn source(args: &AuthArgs) -> Source {
    if let Some(k) = &args.keys {
        return Source::Keys {
            access_key_id: k.access_key_id.clone(),
            secret_access_key: k.secret_access_key.clone(),
            session_token: None,
        };
    }
    let env_profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty());
    match args.profile.clone().or(env_profile) {
        Some(name) => Source::Profile {
            name,
            config_file: args.config_file.clone(),
            credentials_file: None,
        },
        None if args.config_file.is_some() => Source::Profile {
            name: "default".into(),
            config_file: args.config_file.clone(),
            credentials_file: None,
        },
        None => Source::DefaultChain,
    }
}

/// Builds the drive's credentials (reading and checking the profile; nothing is contacted).
pub async fn connect(args: &AuthArgs) -> Result<Auth> {
    if !args.consent_wait.is_finite() || args.consent_wait < 0.0 {
        return Err(UsageError("--consent-wait must be a number of seconds, 0 or more".into()).into());
    }
    let http_client = pail_store::ca_bundle_client().map_err(|e| UsageError(format!("{e}")))?;
    let config = AuthConfig {
        http_client,
        consent_wait: Duration::from_secs_f64(args.consent_wait),
        ..AuthConfig::new(source(args))
    };
    Auth::new(config).await.map_err(|e| match e.kind() {
        AuthErrorKind::Config => UsageError(e.to_string()).into(),
        _ => anyhow::Error::new(e),
    })
}

fn show(dev: &DeviceAuthorization, again: bool, no_browser: bool) {
    let why = if again {
        "Your sign-in session has ended. Pending uploads wait; sign in again"
    } else {
        "Sign in with your company account"
    };
    // On stderr, not in the log: the page and code are for the person at the screen. A company
    // IdP sign-in (authorization code) has no code to compare.
    if dev.user_code.is_empty() {
        eprintln!("{why}:\n  open {}", dev.verification_uri_complete);
    } else {
        eprintln!(
            "{why}:\n  open {}\n  and check that it shows the code {}",
            dev.verification_uri_complete, dev.user_code
        );
    }
    if !no_browser && let Err(e) = webbrowser::open(&dev.verification_uri_complete) {
        tracing::debug!(error = %e, "could not open a browser");
    }
}

/// Prints every sign-in request of `auth` until the returned task is aborted.
pub fn spawn_prompter(auth: &Auth, no_browser: bool) -> Option<tokio::task::JoinHandle<()>> {
    let mut events = auth.sso()?.events();
    Some(tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(AuthEvent::SignInNeeded(d)) => show(&d, false, no_browser),
                Ok(AuthEvent::ReconsentNeeded(d)) => show(&d, true, no_browser),
                Ok(AuthEvent::SignedIn) => eprintln!("Signed in."),
                Ok(AuthEvent::SignInFailed(why)) => eprintln!("The sign-in did not complete: {why}"),
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }))
}

/// Signs in now when the profile is an SSO one without a live session.
pub async fn ensure_signed_in(auth: &Auth, force: bool) -> Result<()> {
    if let Some(sso) = auth.sso() {
        sso.sign_in(force).await.map_err(|e| match e.kind() {
            AuthErrorKind::Config | AuthErrorKind::SignInFailed | AuthErrorKind::Forbidden => {
                UsageError(e.to_string()).into()
            }
            _ => anyhow::Error::new(e),
        })?;
    }
    Ok(())
}

/// `pail login`.
pub fn run_login(rt: &tokio::runtime::Runtime, args: LoginArgs) -> Result<()> {
    rt.block_on(async {
        let auth = connect(&args.auth).await?;
        let Some(sso) = auth.sso() else {
            return Err(UsageError(
                "this profile does not sign in through IAM Identity Center or a company IdP; there is nothing to log in to".into(),
            )
            .into());
        };
        let prompter = spawn_prompter(&auth, args.auth.no_browser);
        let result = ensure_signed_in(&auth, args.force).await;
        if let Some(p) = prompter {
            p.abort();
        }
        result?;
        let id = auth.caller_identity().await?;
        let status = sso.status();
        say!("Signed in as {} (account {})", id.user_id, id.account);
        if let Some(t) = status.token_expires {
            say!("  sign-in valid until {t} (renewed while the session lasts)");
        }
        say!("  cached in {}", sso.cache_path().display());
        Ok(())
    })
}
