//! Who may call the S3 server: the configured static keys, and credentials the identity side
//! issued while they are valid (an expired one gets `ExpiredToken`, as from S3). In per-user
//! policy mode an issued session is confined to `<bucket>/<its aws:userid>/…`, like the
//! company's IAM policy: object calls outside it, listings whose `prefix` is not inside it and
//! bucket-level calls are denied with 403.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Result, s3_error};

use crate::identity::Identity;

/// The key prefix an issued session is confined to, passed to calls that check keys in the body
/// (DeleteObjects).
#[derive(Debug, Clone)]
pub(crate) struct UserPrefix(pub String);

/// Static keys plus issued credentials.
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    pub static_keys: Vec<(String, String)>,
    pub identity: Identity,
}

#[async_trait::async_trait]
impl S3Auth for Keys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some((_, sk)) = self.static_keys.iter().find(|(ak, _)| ak == access_key) {
            return Ok(sk.clone().into());
        }
        match self.identity.issued(access_key) {
            Some(k) if k.expires > SystemTime::now() => Ok(k.secret.into()),
            Some(_) => Err(s3_error!(ExpiredToken, "The provided token has expired.")),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// The per-request access check.
#[derive(Debug, Clone)]
pub(crate) struct Access {
    pub keys: Keys,
    pub per_user: Arc<AtomicBool>,
}

fn inside(key: &str, prefix: &str) -> S3Result<()> {
    if key.starts_with(prefix) {
        Ok(())
    } else {
        Err(s3_error!(AccessDenied, "Access Denied"))
    }
}

#[async_trait::async_trait]
impl s3s::access::S3Access for Access {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> S3Result<()> {
        let Some(creds) = cx.credentials() else {
            return Err(s3_error!(AccessDenied, "Anonymous access is not allowed"));
        };
        let access_key = creds.access_key.clone();
        if self.keys.static_keys.iter().any(|(ak, _)| *ak == access_key) {
            return Ok(());
        }
        let Some(issued) = self.keys.identity.issued(&access_key) else {
            return Err(s3_error!(InvalidAccessKeyId));
        };
        let token = cx.headers().get("x-amz-security-token").and_then(|v| v.to_str().ok());
        if token != Some(issued.session_token.as_str()) {
            return Err(s3_error!(
                InvalidToken,
                "The provided token is malformed or otherwise invalid."
            ));
        }
        if !self.per_user.load(Ordering::Relaxed) {
            return Ok(());
        }
        let prefix = format!("{}/", issued.user_id);
        if let Some(src) = cx.headers().get("x-amz-copy-source").and_then(|v| v.to_str().ok()) {
            let src = percent_encoding::percent_decode_str(src.split('?').next().unwrap_or(src)).decode_utf8_lossy();
            let key = src
                .trim_start_matches('/')
                .split_once('/')
                .map(|(_, k)| k)
                .unwrap_or("");
            inside(key, &prefix)?;
        }
        match cx.s3_path() {
            S3Path::Object { key, .. } => inside(key, &prefix),
            S3Path::Bucket { .. } => match cx.s3_op().name() {
                "ListObjectsV2" | "ListObjects" => {
                    let listed = form_urlencoded::parse(cx.uri().query().unwrap_or("").as_bytes())
                        .find(|(k, _)| k == "prefix")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    inside(&listed, &prefix)
                }
                "DeleteObjects" => {
                    cx.extensions_mut().insert(UserPrefix(prefix));
                    Ok(())
                }
                _ => Err(s3_error!(AccessDenied, "Access Denied")),
            },
            S3Path::Root => Err(s3_error!(AccessDenied, "Access Denied")),
        }
    }
}
