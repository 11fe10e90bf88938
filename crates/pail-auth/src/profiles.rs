//! Profiles of `~/.aws/config` / `~/.aws/credentials` (or files the user chose), with their
//! kind, read with `configparser`.
//!
//! In the config file a profile is `[profile NAME]` (or `[default]`); in the credentials file
//! it is `[NAME]`. `[sso-session NAME]` and `[services NAME]` sections are not profiles.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::AuthError;

/// How a profile gets its credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProfileKind {
    /// Static access keys.
    Keys,
    /// IAM Identity Center, current (`sso_session`) or legacy (`sso_start_url`) form.
    Sso,
    /// A company OIDC sign-in (`pail_oidc_issuer`) and a role assumed with its ID token.
    Federated,
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
            Self::Federated => "company sign-in (OIDC)",
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
    } else if has("pail_oidc_issuer") {
        ProfileKind::Federated
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

/// Every profile's settings from `config` (and `credentials`, when given and present).
fn merged(config: &Path, credentials: Option<&Path>) -> Result<(Sections, Sections), AuthError> {
    let sections = load(config)?;
    let mut profiles: Sections = BTreeMap::new();
    for (section, keys) in &sections {
        let name = match section.as_str() {
            "default" => "default".to_owned(),
            s => match s.strip_prefix("profile ") {
                Some(n) => n.trim().to_owned(),
                None => continue, // sso-session, services, …
            },
        };
        profiles.entry(name).or_default().extend(keys.clone());
    }
    if let Some(creds) = credentials.filter(|p| p.exists()) {
        for (name, keys) in load(creds)? {
            profiles.entry(name.trim().to_owned()).or_default().extend(keys);
        }
    }
    Ok((profiles, sections))
}

/// Every profile in `config` (and in `credentials`, when given and present), sorted by name.
/// A missing credentials file is not an error; a missing config file is.
pub fn list_profiles(config: &Path, credentials: Option<&Path>) -> Result<Vec<ProfileInfo>, AuthError> {
    let (profiles, _) = merged(config, credentials)?;
    Ok(profiles
        .into_iter()
        .map(|(name, keys)| ProfileInfo {
            kind: kind_of(&keys),
            region: keys.get("region").cloned().flatten(),
            name,
        })
        .collect())
}

/// One profile's settings, with the `[sso-session]` it names folded in.
#[derive(Clone, PartialEq, Eq)]
pub struct Profile {
    /// The profile name.
    pub name: String,
    /// Its kind.
    pub kind: ProfileKind,
    settings: BTreeMap<String, String>,
    session: Option<(String, BTreeMap<String, String>)>,
}

impl std::fmt::Debug for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Settings may hold a secret key: show only their names.
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Profile {
    /// A setting of the profile.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// The region the profile sets.
    pub fn region(&self) -> Option<&str> {
        self.get("region")
    }
}

fn flatten(keys: BTreeMap<String, Option<String>>) -> BTreeMap<String, String> {
    keys.into_iter()
        .filter_map(|(k, v)| Some((k, v.filter(|v| !v.is_empty())?)))
        .collect()
}

/// Reads profile `name` from `config` (and `credentials`). An unknown name lists the known ones.
pub fn load_profile(config: &Path, credentials: Option<&Path>, name: &str) -> Result<Profile, AuthError> {
    let (mut profiles, mut sections) = merged(config, credentials)?;
    let Some(keys) = profiles.remove(name) else {
        return Err(AuthError::NoSuchProfile {
            name: name.to_owned(),
            path: config.to_owned(),
            available: profiles.into_keys().collect(),
        });
    };
    let kind = kind_of(&keys);
    let settings = flatten(keys);
    let session = match settings.get("sso_session") {
        Some(s) => {
            let Some(keys) = sections.remove(&format!("sso-session {s}")) else {
                return Err(AuthError::BadProfile {
                    profile: name.to_owned(),
                    path: config.to_owned(),
                    reason: format!("it names sso_session {s:?}, but there is no [sso-session {s}] section"),
                });
            };
            Some((s.clone(), flatten(keys)))
        }
        None => None,
    };
    Ok(Profile {
        name: name.to_owned(),
        kind,
        settings,
        session,
    })
}

/// The IAM Identity Center settings of an SSO profile, in either form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProfile {
    /// The profile name.
    pub profile: String,
    /// The `[sso-session]` name (current form); `None` for the legacy form.
    pub session_name: Option<String>,
    /// The AWS access portal URL.
    pub start_url: String,
    /// The region of IAM Identity Center.
    pub sso_region: String,
    /// The account to get role credentials for.
    pub account_id: String,
    /// The role (permission set) name.
    pub role_name: String,
    /// Registration scopes; empty (legacy form) means no refresh token.
    pub scopes: Vec<String>,
    /// The region for S3, if the profile sets one.
    pub region: Option<String>,
}

impl SsoProfile {
    /// The SSO settings of `profile` (read from `path`), naming the first missing key.
    pub fn from_profile(profile: &Profile, path: &Path) -> Result<Self, AuthError> {
        let missing = |key: &'static str| AuthError::MissingKey {
            profile: profile.name.clone(),
            path: path.to_owned(),
            key,
        };
        let (session_name, start_url, sso_region, scopes) = match &profile.session {
            Some((session, keys)) => {
                if profile.get("sso_start_url").is_some() || profile.get("sso_region").is_some() {
                    return Err(AuthError::BadProfile {
                        profile: profile.name.clone(),
                        path: path.to_owned(),
                        reason: "it has both sso_session and its own sso_start_url/sso_region; keep them only in the [sso-session] section".into(),
                    });
                }
                let get = |k: &'static str| keys.get(k).cloned().ok_or_else(|| missing(k));
                let scopes = keys
                    .get("sso_registration_scopes")
                    .map(|s| {
                        s.split(',')
                            .map(|x| x.trim().to_owned())
                            .filter(|x| !x.is_empty())
                            .collect()
                    })
                    .unwrap_or_else(|| vec!["sso:account:access".to_owned()]);
                (Some(session.clone()), get("sso_start_url")?, get("sso_region")?, scopes)
            }
            None => {
                let get = |k: &'static str| profile.get(k).map(str::to_owned).ok_or_else(|| missing(k));
                (None, get("sso_start_url")?, get("sso_region")?, Vec::new())
            }
        };
        let get = |k: &'static str| profile.get(k).map(str::to_owned).ok_or_else(|| missing(k));
        Ok(Self {
            profile: profile.name.clone(),
            session_name,
            start_url,
            sso_region,
            account_id: get("sso_account_id")?,
            role_name: get("sso_role_name")?,
            scopes,
            region: profile.region().map(str::to_owned),
        })
    }
}

/// A profile that signs in to a company OIDC IdP and assumes a role with the ID token:
///
/// ```ini
/// [profile corp]
/// pail_oidc_issuer = https://login.example.com/oauth2/default
/// pail_oidc_client_id = 0oa1b2c3d4
/// role_arn = arn:aws:iam::111122223333:role/PailHomeFolders
/// region = eu-west-1
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedProfile {
    /// The profile name.
    pub profile: String,
    /// The IdP's issuer URL (`<issuer>/.well-known/openid-configuration` is read).
    pub issuer: String,
    /// The public client registered at the IdP for pail (loopback redirect allowed).
    pub client_id: String,
    /// The role to assume with AssumeRoleWithWebIdentity.
    pub role_arn: String,
    /// Scopes asked for (`pail_oidc_scopes`, default `openid email offline_access`).
    pub scopes: String,
    /// The ID token claim used as the role session name (`pail_oidc_session_claim`, default
    /// `sub`, the claim a role's trust policy can require `sts:RoleSessionName` to equal).
    pub session_claim: String,
    /// `duration_seconds` of the role session, when set.
    pub duration_seconds: Option<i32>,
    /// The region for S3 and STS, if the profile sets one.
    pub region: Option<String>,
}

impl FederatedProfile {
    /// The federation settings of `profile` (read from `path`), naming the first missing key.
    pub fn from_profile(profile: &Profile, path: &Path) -> Result<Self, AuthError> {
        let get = |key: &'static str| {
            profile
                .get(key)
                .map(str::to_owned)
                .ok_or_else(|| AuthError::MissingKey {
                    profile: profile.name.clone(),
                    path: path.to_owned(),
                    key,
                })
        };
        let duration_seconds = match profile.get("duration_seconds") {
            None => None,
            Some(d) => Some(d.parse().map_err(|_| AuthError::BadProfile {
                profile: profile.name.clone(),
                path: path.to_owned(),
                reason: format!("duration_seconds = {d:?} is not a number of seconds"),
            })?),
        };
        Ok(Self {
            profile: profile.name.clone(),
            issuer: get("pail_oidc_issuer")?,
            client_id: get("pail_oidc_client_id")?,
            role_arn: get("role_arn")?,
            scopes: profile
                .get("pail_oidc_scopes")
                .unwrap_or("openid email offline_access")
                .to_owned(),
            session_claim: profile.get("pail_oidc_session_claim").unwrap_or("sub").to_owned(),
            duration_seconds,
            region: profile.region().map(str::to_owned),
        })
    }
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
