//! pail-auth: where a drive's credentials come from — static keys, any profile of an AWS config
//! file, IAM Identity Center (SSO) with pail's own device-flow sign-in, or a company OIDC IdP
//! (authorization code + PKCE, then AssumeRoleWithWebIdentity) — and keeping them
//! fresh: tokens refreshed, role credentials renewed ahead of expiry, and the user asked to
//! consent again ([`AuthEvent::ReconsentNeeded`]) when the session ends, while file operations
//! wait. Also who the credentials belong to, for `${aws:userid}` folders.
//!
//! pail-store does not depend on this crate: the binaries hand [`Auth::credentials_provider`]
//! to it. Nothing here logs or displays a secret, token or device code.
//!
//! # Layout
//! - `profiles` — config files: [`list_profiles`], [`load_profile`], [`SsoProfile`].
//! - `cache` — the token cache shared with the AWS CLI.
//! - `sso` — the IAM Identity Center calls (OIDC + portal).
//! - `federation` — a company OIDC IdP: discovery, PKCE on a loopback redirect, refresh,
//!   AssumeRoleWithWebIdentity.
//! - `flow` — either of the two behind one face for the provider.
//! - `provider` — [`SsoProvider`]: renewal, re-consent, events.
//! - `source` — [`Auth`]: a [`Source`] turned into a provider; caller identity and prefix.
//! - `error` — [`AuthError`] and its kind.

mod cache;
mod error;
mod federation;
mod flow;
mod profiles;
mod provider;
mod source;
mod sso;

pub use cache::{CachedToken, TokenCache, cache_key, default_cache_dir};
pub use error::{AuthError, AuthErrorKind};
pub use profiles::{FederatedProfile, Profile, ProfileInfo, ProfileKind, SsoProfile, list_profiles, load_profile};
pub use provider::{AuthEvent, AuthStatus, SsoProvider};
pub use source::{Auth, AuthConfig, CallerIdentity, Source, default_config_file, default_credentials_file, substitute};
pub use sso::{DeviceAuthorization, Endpoints};

/// Tracing targets capped at `DEBUG` whatever `PAIL_LOG` asks ([`log_caps`]): at `TRACE` the
/// AWS SDK and the HTTP stack log request and response bodies, which carry refresh tokens,
/// client secrets, ID tokens and role credentials.
pub const SECRET_BEARING_LOG_TARGETS: &[&str] = &[
    "aws_config",
    "aws_credential_types",
    "aws_runtime",
    "aws_sdk_s3",
    "aws_sdk_sso",
    "aws_sdk_ssooidc",
    "aws_sdk_sts",
    "aws_sigv4",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_smithy_json",
    "aws_smithy_query",
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_types",
    "aws_smithy_xml",
    "h2",
    "hyper",
    "hyper_util",
    "reqwest",
    "rustls",
    "tower",
];

/// A filter for the binaries' log subscribers that keeps [`SECRET_BEARING_LOG_TARGETS`] at
/// `DEBUG` or below and lets everything else through; layered beside the user's `PAIL_LOG`
/// filter, a lower level asked for such a target stays lower.
pub fn log_caps() -> tracing_subscriber::filter::Targets {
    tracing_subscriber::filter::Targets::new()
        .with_default(tracing::Level::TRACE)
        .with_targets(SECRET_BEARING_LOG_TARGETS.iter().map(|t| (*t, tracing::Level::DEBUG)))
}
