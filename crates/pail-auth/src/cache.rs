//! The SSO token cache shared with the AWS CLI: `~/.aws/sso/cache/<sha1>.json`, named by the
//! sha1 of the sso-session name (current profile form) or of the start URL (legacy form), with
//! the CLI's camelCase fields and `YYYY-MM-DDTHH:MM:SSZ` timestamps. Written atomically (temp
//! file + rename) with mode 0600, so `aws sso login` and pail share one sign-in both ways.
//!
//! A file that does not parse is treated as "signed out" (and replaced by the next sign-in);
//! fields pail does not know are kept when it rewrites the file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha1::Digest;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::AuthError;

/// One cached sign-in: the access token, its refresh token, and the client registration.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedToken {
    /// The start URL signed in to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_url: Option<String>,
    /// The IAM Identity Center region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The bearer token for the portal.
    pub access_token: String,
    /// When [`Self::access_token`] expires.
    pub expires_at: String,
    /// The registered client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The registered client's secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// When the client registration expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_expires_at: Option<String>,
    /// The refresh token, when the client registered with scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Anything else the file held.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl std::fmt::Debug for CachedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedToken")
            .field("start_url", &self.start_url)
            .field("expires_at", &self.expires_at)
            .field("registration_expires_at", &self.registration_expires_at)
            .field("has_refresh_token", &self.refresh_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Formats a time as the cache does: UTC, seconds, `Z`.
pub fn format_time(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t)
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    t.format(&Rfc3339).unwrap_or_default()
}

/// Parses an RFC 3339 time as written by the AWS CLI, the Rust SDK or pail.
pub fn parse_time(s: &str) -> Option<SystemTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok().map(SystemTime::from)
}

impl CachedToken {
    /// When the access token expires (the epoch when unreadable: treated as expired).
    pub fn expires(&self) -> SystemTime {
        parse_time(&self.expires_at).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    /// Whether the access token is still valid for at least `margin`.
    pub fn valid_for(&self, margin: Duration) -> bool {
        self.expires() > SystemTime::now() + margin
    }

    /// The client registration, while it is valid.
    pub fn registration(&self) -> Option<(String, String)> {
        let expires = self.registration_expires_at.as_deref().and_then(parse_time)?;
        (expires > SystemTime::now()).then_some(())?;
        Some((self.client_id.clone()?, self.client_secret.clone()?))
    }
}

/// The cache directory and the file of one session.
#[derive(Debug, Clone)]
pub struct TokenCache {
    path: PathBuf,
}

/// `~/.aws` (`HOME`, else `USERPROFILE`), where the AWS CLI keeps its files.
pub(crate) fn aws_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(|h| PathBuf::from(h).join(".aws"))
}

/// The AWS CLI's cache directory: `~/.aws/sso/cache`.
pub fn default_cache_dir() -> Option<PathBuf> {
    aws_dir().map(|d| d.join("sso").join("cache"))
}

/// `sha1(name)` in hex: the cache file's stem.
pub fn cache_key(name: &str) -> String {
    hex::encode(sha1::Sha1::digest(name.as_bytes()))
}

impl TokenCache {
    /// The cache file for `name` (sso-session name or legacy start URL) under `dir`.
    pub fn new(dir: &Path, name: &str) -> Self {
        Self {
            path: dir.join(format!("{}.json", cache_key(name))),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cached sign-in; `None` when absent or unreadable (a corrupt file means signed out).
    pub fn load(&self) -> Option<CachedToken> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot read the sign-in cache; signing in again");
                return None;
            }
        };
        match serde_json::from_slice::<CachedToken>(&bytes) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "the sign-in cache is damaged; it will be replaced at the next sign-in");
                None
            }
        }
    }

    /// Writes `token` atomically with mode 0600.
    pub fn store(&self, token: &CachedToken) -> Result<(), AuthError> {
        let fail = |source| AuthError::Cache {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        // The folder holds refresh tokens: only its owner may list or open it.
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
            .create(dir)
            .map_err(fail)?;
        #[cfg(not(unix))]
        std::fs::create_dir_all(dir).map_err(fail)?;
        let json = serde_json::to_vec_pretty(token).map_err(|e| fail(std::io::Error::other(e)))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".pail-token")
            .tempfile_in(dir)
            .map_err(fail)?;
        // tempfile creates the file 0600 on Unix; say so explicitly all the same.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
        }
        tmp.write_all(&json).map_err(fail)?;
        tmp.as_file().sync_all().map_err(fail)?;
        tmp.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_names_match_the_aws_cli() {
        assert_eq!(
            cache_key("https://ssotest.awsapps.com/start"),
            "dace00cba5f8355ec9d274ceb2bcebdfbeed0e12"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_token_folders_it_creates_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().expect("dir");
        let dir = home.path().join(".aws/sso/cache");
        let cache = TokenCache::new(&dir, "corp");
        let token: CachedToken = serde_json::from_str(
            r#"{"startUrl": "https://d-1.awsapps.com/start", "region": "us-east-1",
            "accessToken": "tok", "expiresAt": "2030-01-01T00:00:00Z"}"#,
        )
        .expect("token");
        cache.store(&token).expect("store");
        for d in [".aws", ".aws/sso", ".aws/sso/cache"] {
            let mode = std::fs::metadata(home.path().join(d))
                .expect("dir")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700, "{d}");
        }
    }

    #[test]
    fn a_cli_written_file_round_trips_with_unknown_fields_kept() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = TokenCache::new(dir.path(), "corp");
        let cli = r#"{"startUrl": "https://d-1.awsapps.com/start", "region": "us-east-1",
            "accessToken": "tok", "expiresAt": "2030-01-01T00:00:00Z", "clientId": "c",
            "clientSecret": "s", "registrationExpiresAt": "2030-02-01T00:00:00Z",
            "refreshToken": "r", "futureField": 1}"#;
        std::fs::write(cache.path(), cli).expect("write");
        let token = cache.load().expect("parses");
        assert!(token.valid_for(Duration::from_secs(60)));
        assert_eq!(token.registration(), Some(("c".into(), "s".into())));
        cache.store(&token).expect("store");
        let again: serde_json::Value =
            serde_json::from_slice(&std::fs::read(cache.path()).expect("read")).expect("json");
        assert_eq!(again["futureField"], 1);
        assert_eq!(again["expiresAt"], "2030-01-01T00:00:00Z");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path()).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_file_is_signed_out() {
        let dir = tempfile::tempdir().expect("dir");
        let cache = TokenCache::new(dir.path(), "corp");
        std::fs::write(cache.path(), "{not json").expect("write");
        assert!(cache.load().is_none());
    }
}
