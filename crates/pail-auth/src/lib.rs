//! pail-auth: where a drive's credentials come from.
//!
//! This first piece reads AWS config files the way the settings dialog needs them: every
//! profile of a config file (and its companion credentials file) with its kind, so the user can
//! pick "Use AWS Profile" and see which profiles are keys, IAM Identity Center (SSO), roles or
//! external processes. Sign-in flows, the token cache and renewal build on it.
//!
//! # Layout
//! - `profiles` — [`list_profiles`] and [`ProfileKind`].

mod profiles;

pub use profiles::{AuthError, ProfileInfo, ProfileKind, list_profiles};
