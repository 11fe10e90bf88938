//! Test connection: what works for a drive, line by line, before it is saved or started —
//! who the credentials belong to, whether the bucket answers and lets us list the drive's
//! folder, read in it and write in it (a small test object is written and deleted again). Each
//! line says what failed in words a user can pass to their administrator.

use std::sync::Arc;

use bytes::Bytes;
use pail_auth::Auth;
use pail_drives::{Drive, DriveAuth};
use pail_store::{Credentials, ObjectStore, S3Store, S3StoreConfig, StoreError, StoreErrorKind, WriteCondition};

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// What was tried ("Sign-in", "List", "Read", "Write").
    pub what: &'static str,
    /// Whether it worked.
    pub ok: bool,
    /// What happened.
    pub detail: String,
}

impl CheckLine {
    fn ok(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            ok: true,
            detail: detail.into(),
        }
    }

    fn failed(what: &'static str, detail: impl Into<String>) -> Self {
        Self {
            what,
            ok: false,
            detail: detail.into(),
        }
    }

    /// The sign-in did not complete: why.
    pub fn failed_sign_in(why: String) -> Self {
        Self::failed("Sign-in", why)
    }

    /// `List: works — …` / `List: failed — …`, as shown (words, not ✓/✗: the default fonts
    /// have no such glyphs).
    pub fn text(&self) -> String {
        format!(
            "{}: {} — {}",
            self.what,
            if self.ok { "works" } else { "failed" },
            self.detail
        )
    }
}

pub(crate) fn explain(e: &StoreError, bucket: &str) -> String {
    match e.kind() {
        StoreErrorKind::NotFound => format!("bucket {bucket} does not exist (check its name and region)"),
        StoreErrorKind::AccessDenied => "not allowed by your policy here".into(),
        StoreErrorKind::InvalidCredentials => "the credentials were refused".into(),
        StoreErrorKind::ExpiredCredentials => "the credentials have expired: sign in again".into(),
        StoreErrorKind::NoCredentials => "no credentials were found: choose a profile or enter access keys".into(),
        StoreErrorKind::Network => "the endpoint cannot be reached".into(),
        _ => e.to_string(),
    }
}

/// A drive's credentials, checked: who they belong to and the drive's folder with
/// `${aws:userid}` resolved.
pub(crate) struct SignedIn {
    /// "signed in as AROA…:alice" / "access key AKIA…".
    pub who: String,
    /// The folder in the bucket, without slashes at the ends.
    pub prefix: String,
    /// What the S3 client signs with.
    pub credentials: Credentials,
}

/// The credentials for `drive`: `auth` for a profile (already signed in), `secret` for keys.
pub(crate) async fn credentials(
    drive: &Drive,
    auth: Option<&Auth>,
    secret: Option<String>,
) -> Result<SignedIn, String> {
    let prefix = drive.prefix.trim_matches('/').to_owned();
    match (&drive.auth, auth) {
        (DriveAuth::Profile { .. }, Some(auth)) => {
            let id = auth.caller_identity().await.map_err(|e| e.to_string())?;
            Ok(SignedIn {
                who: format!("signed in as {}", id.user_id),
                prefix: pail_auth::substitute(&prefix, &id),
                credentials: Credentials::Provider(auth.credentials_provider()),
            })
        }
        (DriveAuth::Keys { access_key_id }, _) => {
            let secret = secret.ok_or("the secret access key is missing")?;
            Ok(SignedIn {
                who: format!("access key {access_key_id}"),
                prefix,
                credentials: Credentials::Static {
                    access_key_id: access_key_id.clone(),
                    secret_access_key: secret,
                    session_token: None,
                },
            })
        }
        _ => Ok(SignedIn {
            who: "the default credentials".into(),
            prefix,
            credentials: Credentials::DefaultChain { profile: None },
        }),
    }
}

/// An S3 client for `bucket` at the drive's endpoint and region, retrying little: the user is
/// waiting for an answer.
pub(crate) async fn store(drive: &Drive, bucket: &str, credentials: Credentials) -> Result<S3Store, StoreError> {
    S3Store::new(S3StoreConfig {
        endpoint_url: drive.endpoint_url.clone(),
        allow_http: drive.allow_http,
        region: drive.region.clone(),
        force_path_style: drive.endpoint_url.is_some(),
        credentials,
        max_attempts: 2,
        ..S3StoreConfig::new(bucket)
    })
    .await
}

/// Runs the checks for `drive`: `auth` for a profile (already signed in), `secret` for keys.
pub async fn test_connection(drive: &Drive, auth: Option<&Auth>, secret: Option<String>) -> Vec<CheckLine> {
    let mut out = Vec::new();
    let signed = match credentials(drive, auth, secret).await {
        Ok(s) => s,
        Err(e) => {
            out.push(CheckLine::failed("Sign-in", e));
            return out;
        }
    };
    out.push(CheckLine::ok("Sign-in", signed.who));
    let prefix = signed.prefix;
    if prefix.contains("${aws:") {
        out.push(CheckLine::failed(
            "List",
            "\"My folder\" needs a profile that signs in, so pail can ask whose folder it is",
        ));
        return out;
    }
    let store: Arc<dyn ObjectStore> = match store(drive, &drive.bucket, signed.credentials).await {
        Ok(s) => Arc::new(s),
        Err(e) => {
            out.push(CheckLine::failed("List", e.to_string()));
            return out;
        }
    };
    let folder = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let shown = format!("{}/{folder}", drive.bucket);
    let page = match store.list_page(&folder, Some("/"), None, Some(100)).await {
        Ok(p) => {
            out.push(CheckLine::ok(
                "List",
                format!("{shown} answers ({} entries)", p.objects.len() + p.prefixes.len()),
            ));
            p
        }
        Err(e) => {
            out.push(CheckLine::failed(
                "List",
                format!("{shown}: {}", explain(&e, &drive.bucket)),
            ));
            return out;
        }
    };
    match page.objects.iter().find(|o| o.size > 0) {
        Some(o) => match store.get_range(&o.key, 0..1, None).await {
            Ok(_) => out.push(CheckLine::ok("Read", format!("read {}", o.key))),
            Err(e) => out.push(CheckLine::failed("Read", explain(&e, &drive.bucket))),
        },
        None => out.push(CheckLine::ok("Read", "nothing to read yet")),
    }
    let probe = format!("{folder}.pail-connection-test-{}", std::process::id());
    match store
        .put(&probe, Bytes::from_static(b"pail"), &WriteCondition::IfAbsent, None)
        .await
    {
        Ok(_) => {
            let cleaned = store.delete(&probe).await;
            out.push(match cleaned {
                Ok(()) => CheckLine::ok("Write", "a test file was written and deleted"),
                Err(e) => CheckLine::failed(
                    "Write",
                    format!(
                        "writing works, deleting does not ({}); remove {probe}",
                        explain(&e, &drive.bucket)
                    ),
                ),
            });
        }
        Err(e) => out.push(CheckLine::failed(
            "Write",
            format!(
                "{} (the drive can only be mounted read-only)",
                explain(&e, &drive.bucket)
            ),
        )),
    }
    out
}
