//! pail-auth's error: what went wrong signing in, in words a user can act on, plus a kind the
//! binaries and the app map (retry later, sign in again, fix the config).
//!
//! No variant ever carries a secret, token or device code.

use std::path::PathBuf;

/// What kind of failure, for deciding what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthErrorKind {
    /// The config file or profile is wrong: the user must fix it.
    Config,
    /// The sign-in session has ended or was never made: sign in (again).
    SignInNeeded,
    /// The user denied the sign-in, or did not finish it in time.
    SignInFailed,
    /// The identity is not allowed this account/role.
    Forbidden,
    /// An endpoint could not be reached; retrying later may work.
    Network,
    /// Anything else.
    Other,
}

/// A failure of pail-auth.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The file could not be read or parsed.
    #[error("cannot read AWS config file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What was wrong, with the line when the parser names it.
        reason: String,
    },
    /// No profile of that name.
    #[error("no profile {name:?} in {path}; profiles there: {}", list_or_none(available))]
    NoSuchProfile {
        /// The name asked for.
        name: String,
        /// The config file searched.
        path: PathBuf,
        /// The profiles that exist.
        available: Vec<String>,
    },
    /// An SSO or federated profile lacks a setting.
    #[error("profile {profile:?} in {path} needs `{key}` to sign in")]
    MissingKey {
        /// The profile.
        profile: String,
        /// The config file.
        path: PathBuf,
        /// The missing key.
        key: &'static str,
    },
    /// A profile names an `[sso-session]` that is not there, or mixes both forms.
    #[error("profile {profile:?} in {path}: {reason}")]
    BadProfile {
        /// The profile.
        profile: String,
        /// The config file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An identity provider's address is plain http on another machine.
    #[error(
        "{url} is plain http: sign-in codes and tokens would cross the network unencrypted; use the identity provider's https address"
    )]
    InsecureEndpoint {
        /// The address refused.
        url: String,
    },
    /// No valid sign-in: run the device flow (again).
    #[error("the IAM Identity Center session for {start_url} has ended or was never started; sign in again")]
    SignInNeeded {
        /// The start URL of the session.
        start_url: String,
    },
    /// The user denied the request in the browser.
    #[error("the sign-in was denied in the browser")]
    Denied,
    /// The device code expired before the user approved it.
    #[error("the sign-in was not approved in time; start it again")]
    TimedOut,
    /// The identity is not assigned the account/role of the profile.
    #[error(
        "you are not assigned role {role} in account {account} (IAM Identity Center said: {message}); ask your administrator, or pick another profile"
    )]
    NotAssigned {
        /// The account id.
        account: String,
        /// The role (permission set) name.
        role: String,
        /// The service's words.
        message: String,
    },
    /// The local clock is far from the service's.
    #[error(
        "the request was refused as signed at the wrong time: this computer's clock looks off (clock skew); set the clock right and try again ({message})"
    )]
    ClockSkew {
        /// The service's words.
        message: String,
    },
    /// An endpoint could not be reached.
    #[error("cannot reach {service} at {endpoint}: {message}")]
    Unreachable {
        /// The service (e.g. "IAM Identity Center OIDC").
        service: &'static str,
        /// The endpoint or start URL.
        endpoint: String,
        /// The transport's words.
        message: String,
    },
    /// A service answered with an error not covered above.
    #[error("{op} failed: {message}")]
    Service {
        /// The call.
        op: &'static str,
        /// The service's words (code and message).
        message: String,
    },
    /// The token cache could not be written.
    #[error("cannot write the sign-in cache {path}: {source}")]
    Cache {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

impl AuthError {
    /// The kind, for deciding what to do next.
    pub fn kind(&self) -> AuthErrorKind {
        match self {
            Self::ConfigFile { .. }
            | Self::NoSuchProfile { .. }
            | Self::MissingKey { .. }
            | Self::BadProfile { .. }
            | Self::InsecureEndpoint { .. } => AuthErrorKind::Config,
            Self::SignInNeeded { .. } => AuthErrorKind::SignInNeeded,
            Self::Denied | Self::TimedOut => AuthErrorKind::SignInFailed,
            Self::NotAssigned { .. } => AuthErrorKind::Forbidden,
            Self::Unreachable { .. } => AuthErrorKind::Network,
            Self::ClockSkew { .. } | Self::Service { .. } | Self::Cache { .. } => AuthErrorKind::Other,
        }
    }
}
