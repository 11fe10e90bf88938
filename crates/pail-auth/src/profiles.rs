//! Profiles of `~/.aws/config` / `~/.aws/credentials` (or files the user chose), with their
//! kind, read with `configparser`.
//!
//! In the config file a profile is `[profile NAME]` (or `[default]`); in the credentials file
//! it is `[NAME]`. `[sso-session NAME]` and `[services NAME]` sections are not profiles.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// How a profile gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProfileKind {
    /// Static access keys.
    Keys,
    /// IAM Identity Center, current (`sso_session`) or legacy (`sso_start_url`) form.
    Sso,
    /// A role assumed from another profile or credential source.
    Role,
    /// A web identity token file (OIDC federation).
    WebIdentity,
    /// An external `credential_process`.
    Process,
    /// Nothing pail recognises (e.g. only `region`).
    Other,
}

impl ProfileKind {
    /// A short label for the profile picker.
    pub fn label(self) -> &'static str {
        match self {
            Self::Keys => "access keys",
            Self::Sso => "IAM Identity Center (SSO)",
            Self::Role => "role",
            Self::WebIdentity => "web identity",
            Self::Process => "credential process",
            Self::Other => "other",
        }
    }
}

/// One profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileInfo {
    /// The profile name (`default` included).
    pub name: String,
    /// Its kind.
    pub kind: ProfileKind,
    /// The region it sets, if any.
    pub region: Option<String>,
}

/// Reading a config file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The file could not be read or parsed.
    #[error("cannot read AWS config file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What was wrong (configparser reports errors as text).
        reason: String,
    },
}

type Sections = BTreeMap<String, BTreeMap<String, Option<String>>>;

fn load(path: &Path) -> Result<Sections, AuthError> {
    let mut ini = configparser::ini::Ini::new_cs();
    let map = ini.load(path).map_err(|reason| AuthError::ConfigFile {
        path: path.to_owned(),
        reason,
    })?;
    Ok(map.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect())
}

fn kind_of(keys: &BTreeMap<String, Option<String>>) -> ProfileKind {
    let has = |k: &str| keys.get(k).is_some_and(|v| v.as_deref().is_some_and(|v| !v.is_empty()));
    if has("sso_session") || has("sso_start_url") {
        ProfileKind::Sso
    } else if has("role_arn") && has("web_identity_token_file") {
        ProfileKind::WebIdentity
    } else if has("role_arn") {
        ProfileKind::Role
    } else if has("credential_process") {
        ProfileKind::Process
    } else if has("aws_access_key_id") && has("aws_secret_access_key") {
        ProfileKind::Keys
    } else {
        ProfileKind::Other
    }
}

/// Every profile in `config` (and in `credentials`, when given and present), sorted by name.
/// A missing credentials file is not an error; a missing config file is.
pub fn list_profiles(config: &Path, credentials: Option<&Path>) -> Result<Vec<ProfileInfo>, AuthError> {
    let mut merged: BTreeMap<String, BTreeMap<String, Option<String>>> = BTreeMap::new();
    for (section, keys) in load(config)? {
        let name = match section.as_str() {
            "default" => "default".to_owned(),
            s => match s.strip_prefix("profile ") {
                Some(n) => n.trim().to_owned(),
                None => continue, // sso-session, services, …
            },
        };
        merged.entry(name).or_default().extend(keys);
    }
    if let Some(creds) = credentials.filter(|p| p.exists()) {
        for (name, keys) in load(creds)? {
            merged.entry(name.trim().to_owned()).or_default().extend(keys);
        }
    }
    Ok(merged
        .into_iter()
        .map(|(name, keys)| ProfileInfo {
            kind: kind_of(&keys),
            region: keys.get("region").cloned().flatten(),
            name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
[default]
region = eu-west-1

[profile keys]
aws_access_key_id = AKIAEXAMPLE
aws_secret_access_key = secret

[profile corp]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = S3Users
region = us-east-1

[sso-session corp]
sso_start_url = https://d-1234567890.awsapps.com/start
sso_region = us-east-1

[profile legacy]
sso_start_url = https://d-1234567890.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = S3Users

[profile admin]
role_arn = arn:aws:iam::111122223333:role/Admin
source_profile = keys

[profile federated]
role_arn = arn:aws:iam::111122223333:role/Web
web_identity_token_file = /tmp/token

[profile helper]
credential_process = /usr/bin/get-creds
";

    #[test]
    fn lists_every_profile_with_its_kind() {
        let dir = tempfile::tempdir().expect("dir");
        let config = dir.path().join("config");
        std::fs::write(&config, CONFIG).expect("write");
        let creds = dir.path().join("credentials");
        std::fs::write(&creds, "[default]\naws_access_key_id = A\naws_secret_access_key = B\n").expect("write");
        let profiles = list_profiles(&config, Some(&creds)).expect("parse");
        let kinds: Vec<(&str, ProfileKind)> = profiles.iter().map(|p| (p.name.as_str(), p.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("admin", ProfileKind::Role),
                ("corp", ProfileKind::Sso),
                ("default", ProfileKind::Keys),
                ("federated", ProfileKind::WebIdentity),
                ("helper", ProfileKind::Process),
                ("keys", ProfileKind::Keys),
                ("legacy", ProfileKind::Sso),
            ]
        );
        assert_eq!(
            profiles
                .iter()
                .find(|p| p.name == "corp")
                .and_then(|p| p.region.as_deref()),
            Some("us-east-1")
        );
    }

    #[test]
    fn a_missing_config_file_is_an_error_naming_it() {
        let err = list_profiles(Path::new("/nonexistent/pail/config"), None).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/pail/config"), "{err}");
    }
}
