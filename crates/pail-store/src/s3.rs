//! [`S3Store`]: [`ObjectStore`] over `aws-sdk-s3`.
//!
//! Configuration covers what a company deployment needs: endpoint URL (S3-compatible stores and
//! the emulator), region, path-style addressing, credentials (static keys, a named profile or the
//! default chain, or any provider the binary wires in), and `AWS_CA_BUNDLE` for TLS-intercepting
//! proxies. Requests carry `pail-<version>` as the app name in the user agent so CloudTrail shows
//! the client.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::date_time::DateTime;
use bytes::Bytes;

use crate::error::kind_from_code;
use crate::object::{ATTRIBUTES_METADATA_KEY, CREATED_METADATA_KEY, parse_attributes, parse_mtime, parse_token};
use crate::{
    ETag, GetObject, ListPage, MTIME_METADATA_KEY, ObjectMeta, ObjectStore, Sse, Stamp, StoreError, StoreErrorKind,
    TOKEN_METADATA_KEY, WriteCondition,
};

/// Where credentials come from.
#[derive(Clone)]
pub enum Credentials {
    /// Static keys.
    Static {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Session token for temporary keys.
        session_token: Option<String>,
    },
    /// The SDK's default chain (environment, `~/.aws/config` profiles, SSO cache, IMDS…),
    /// optionally for a named profile.
    DefaultChain {
        /// Profile name; `None` means `AWS_PROFILE` or `default`.
        profile: Option<String>,
    },
    /// A provider wired in by the binary (e.g. pail-auth's SSO provider).
    Provider(SharedCredentialsProvider),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static { access_key_id, .. } => f
                .debug_struct("Static")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Self::DefaultChain { profile } => f.debug_struct("DefaultChain").field("profile", profile).finish(),
            Self::Provider(_) => f.write_str("Provider(..)"),
        }
    }
}

/// How to reach one bucket.
#[derive(Debug, Clone)]
pub struct S3StoreConfig {
    /// The bucket name.
    pub bucket: String,
    /// A custom endpoint, e.g. `http://127.0.0.1:9000`; `None` uses AWS.
    pub endpoint_url: Option<String>,
    /// Region; `None` uses the profile/environment, else `us-east-1`.
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`), needed by most S3-compatible stores.
    pub force_path_style: bool,
    /// Credentials source.
    pub credentials: Credentials,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// How long a request may wait for the first byte of its answer, past the time its body
    /// needs at `slowest_uplink`: a request a server (or a middlebox) never answers is then
    /// retried instead of holding the mount forever. Copies and completions, which S3 may work
    /// on for minutes, wait [`SLOW_ANSWER`].
    pub answer_timeout: Duration,
    /// The slowest uplink, in bytes per second, a request body is given time for
    /// ([`SLOWEST_UPLINK`] by default).
    pub slowest_uplink: u64,
    /// Server-side encryption sent with every write and copy.
    pub sse: Option<Sse>,
    /// Attempts per request, counting the first, with the SDK's standard backoff.
    pub max_attempts: u32,
    /// How long a request may wait for the credentials provider (an SSO provider waits here
    /// while the user consents again).
    pub credentials_wait: Duration,
    /// Accept a plain-http endpoint on a non-loopback host ([`crate::check_endpoint`]).
    pub allow_http: bool,
}

impl S3StoreConfig {
    /// A config for an S3-compatible endpoint (path-style addressing) with static keys, as
    /// pail-emulator, MinIO and most on-premises stores need.
    pub fn for_endpoint(bucket: &str, endpoint: &str, region: &str, access_key_id: &str, secret: &str) -> Self {
        Self {
            endpoint_url: Some(endpoint.to_owned()),
            region: Some(region.to_owned()),
            force_path_style: true,
            credentials: Credentials::Static {
                access_key_id: access_key_id.to_owned(),
                secret_access_key: secret.to_owned(),
                session_token: None,
            },
            ..Self::new(bucket)
        }
    }

    /// A config for `bucket` with the default credential chain.
    pub fn new(bucket: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint_url: None,
            region: None,
            force_path_style: false,
            credentials: Credentials::DefaultChain { profile: None },
            connect_timeout: Duration::from_secs(5),
            // S3 answers in tens of milliseconds; AWS's guidance for latency-sensitive clients
            // retries a slow small request after a few seconds. 10 s leaves a busy server room
            // while a stalled request (one in a hundred in `--stall-one-in 100`) costs a third
            // of what it did at 30 s.
            answer_timeout: Duration::from_secs(10),
            slowest_uplink: SLOWEST_UPLINK,
            sse: None,
            max_attempts: 5,
            credentials_wait: Duration::from_secs(5),
            allow_http: false,
        }
    }
}

/// The slowest uplink a request body is given time for by default (64 KiB/s): an 8 MiB part
/// may take 128 s more than [`S3StoreConfig::answer_timeout`] before it is taken as stalled.
pub const SLOWEST_UPLINK: u64 = 64 << 10;

/// How long a copy or a multipart completion may wait for its answer: S3 may work on a large
/// one for minutes before it answers.
pub const SLOW_ANSWER: Duration = Duration::from_secs(600);

/// The SDK's timeouts: connecting, and the first byte of an answer (per attempt, so a stalled
/// request is retried).
fn timeouts(connect: Duration, answer: Duration) -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(connect)
        .read_timeout(answer)
        .build()
}

/// The aws-sdk-s3 implementation of [`ObjectStore`].
#[derive(Debug, Clone)]
pub struct S3Store {
    pub(crate) client: Client,
    pub(crate) bucket: String,
    pub(crate) sse: Option<Sse>,
    connect_timeout: Duration,
    answer_timeout: Duration,
    slowest_uplink: u64,
}

impl S3Store {
    /// Builds the client. Does not contact the service.
    pub async fn new(config: S3StoreConfig) -> Result<Self, StoreError> {
        let insecure = |e: crate::InsecureEndpoint| {
            let url = e.url.clone();
            StoreError::new(StoreErrorKind::Other, "checking the endpoint", url, Some(Box::new(e)))
        };
        match &config.endpoint_url {
            Some(url) => crate::check_endpoint(url, config.allow_http).map_err(insecure)?,
            None => crate::check_endpoint_variables(config.allow_http).map_err(insecure)?,
        }
        // The region given, else AWS_REGION / AWS_DEFAULT_REGION, else the profile's, else
        // us-east-1; never the EC2 instance metadata service, which a desktop cannot reach:
        // asking it cost a warning and a connection attempt at every mount.
        let profile_region = match &config.credentials {
            Credentials::DefaultChain { profile: Some(p) } => aws_config::profile::ProfileFileRegionProvider::builder()
                .profile_name(p)
                .build(),
            _ => aws_config::profile::ProfileFileRegionProvider::new(),
        };
        let region = RegionProviderChain::first_try(config.region.clone().map(aws_config::Region::new))
            .or_else(aws_config::environment::EnvironmentVariableRegionProvider::new())
            .or_else(profile_region)
            .or_else(aws_config::Region::from_static("us-east-1"));
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(region)
            .app_name(aws_config::AppName::new(concat!("pail-", env!("CARGO_PKG_VERSION"))).expect("valid app name"))
            .timeout_config(timeouts(config.connect_timeout, config.answer_timeout))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(config.max_attempts.max(1)))
            .identity_cache(
                aws_config::identity::IdentityCache::lazy()
                    .load_timeout(config.credentials_wait)
                    .build(),
            );
        match &config.credentials {
            Credentials::Static {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                    access_key_id,
                    secret_access_key,
                    session_token.clone(),
                    None,
                    "pail-static",
                ));
            }
            Credentials::DefaultChain { profile: Some(p) } => loader = loader.profile_name(p),
            Credentials::DefaultChain { profile: None } => {}
            Credentials::Provider(p) => loader = loader.credentials_provider(p.clone()),
        }
        if let Some(ep) = &config.endpoint_url {
            loader = loader.endpoint_url(ep);
        }
        if let Some(client) = ca_bundle_client()? {
            loader = loader.http_client(client);
        }
        let sdk = loader.load().await;
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(config.force_path_style)
            .build();
        Ok(Self {
            client: Client::from_conf(s3),
            bucket: config.bucket,
            sse: config.sse,
            connect_timeout: config.connect_timeout,
            answer_timeout: config.answer_timeout,
            slowest_uplink: config.slowest_uplink.max(1),
        })
    }

    /// A per-request override giving a request that sends `body` bytes time to send them
    /// before its answer is due, or a request S3 may work on for minutes ([`SLOW_ANSWER`]).
    pub(crate) fn answer_within(&self, body: Option<u64>) -> aws_sdk_s3::config::Builder {
        let wait = match body {
            Some(len) => self.answer_timeout + Duration::from_secs(len / self.slowest_uplink),
            None => SLOW_ANSWER.max(self.answer_timeout),
        };
        aws_sdk_s3::config::Builder::default().timeout_config(timeouts(self.connect_timeout, wait))
    }

    /// The bucket this store addresses.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// An HTTPS client trusting the certificates in `AWS_CA_BUNDLE` (as the AWS CLI does), or `None`
/// when the variable is unset. Binaries hand it to pail-auth's identity clients too.
pub fn ca_bundle_client() -> Result<Option<aws_smithy_runtime_api::client::http::SharedHttpClient>, StoreError> {
    use aws_smithy_http_client::tls::{self, TlsContext, TrustStore, rustls_provider::CryptoMode};
    let Some(path) = std::env::var_os("AWS_CA_BUNDLE").filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let pem = std::fs::read(&path).map_err(|e| {
        StoreError::new(
            StoreErrorKind::Other,
            "reading AWS_CA_BUNDLE",
            path.to_string_lossy(),
            Some(e.into()),
        )
    })?;
    let ctx = TlsContext::builder()
        .with_trust_store(TrustStore::default().with_pem_certificate(pem))
        .build()
        .map_err(|e| {
            StoreError::new(
                StoreErrorKind::Other,
                "loading AWS_CA_BUNDLE",
                path.to_string_lossy(),
                Some(e.into()),
            )
        })?;
    let client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(ctx)
        .build_https();
    Ok(Some(client))
}

impl S3Store {
    /// The buckets these credentials may list (ListBuckets), for the app's "Browse buckets".
    /// Mounting never calls it: a per-user policy usually denies it (`AccessDenied`), and the
    /// user types the bucket instead.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn list_buckets(&self) -> Result<Vec<String>, StoreError> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_buckets()
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| map_err("ListBuckets", "", e))?;
            names.extend(out.buckets().iter().filter_map(|b| b.name().map(str::to_owned)));
            token = out.continuation_token().map(str::to_owned);
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

/// Decodes a key of an `encoding-type=url` listing, as the AWS CLI does (`+` is a space).
fn url_decode(key: &str) -> String {
    let plus_as_space = key.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

pub(crate) fn to_system_time(t: Option<&DateTime>) -> SystemTime {
    t.and_then(|t| SystemTime::try_from(*t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

pub(crate) fn map_err<E>(op: &'static str, key: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let kind = match &err {
        // The credentials provider failed (e.g. the sign-in session ended and the user has not
        // consented again yet): not a network fault.
        SdkError::DispatchFailure(_) if let Some(kind) = credentials_failed(&err) => kind,
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => StoreErrorKind::Network,
        SdkError::ResponseError(e) => kind_from_code(None, Some(e.raw().status().as_u16())),
        SdkError::ServiceError(e) => kind_from_code(e.err().code(), Some(e.raw().status().as_u16())),
        _ => StoreErrorKind::Other,
    };
    // Credential-provider failures surface as construction failures: call them what they are.
    let kind = match (&err, kind) {
        (SdkError::ConstructionFailure(_), StoreErrorKind::Other) => StoreErrorKind::InvalidCredentials,
        (_, k) => k,
    };
    StoreError::new(kind, op, key, Some(Box::new(err)))
}

/// The kind of a credentials provider's error in `err`'s source chain, if there is one: none
/// found at all, or a provider that failed (a sign-in session that ended).
fn credentials_failed(err: &(dyn std::error::Error + 'static)) -> Option<StoreErrorKind> {
    use aws_credential_types::provider::error::CredentialsError;
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(c) = e.downcast_ref::<CredentialsError>() {
            return Some(match c {
                CredentialsError::CredentialsNotLoaded(_) => StoreErrorKind::NoCredentials,
                _ => StoreErrorKind::ExpiredCredentials,
            });
        }
        cur = e.source();
    }
    None
}

fn meta_from_user(metadata: Option<&std::collections::HashMap<String, String>>) -> Option<SystemTime> {
    metadata?.get(MTIME_METADATA_KEY).and_then(|v| parse_mtime(v))
}

fn token_from_user(metadata: Option<&std::collections::HashMap<String, String>>) -> Option<u64> {
    metadata?.get(TOKEN_METADATA_KEY).and_then(|v| parse_token(v))
}

fn attributes_from_user(metadata: Option<&std::collections::HashMap<String, String>>) -> u32 {
    metadata
        .and_then(|m| m.get(ATTRIBUTES_METADATA_KEY))
        .map_or(0, |v| parse_attributes(v))
}

fn created_from_user(metadata: Option<&std::collections::HashMap<String, String>>) -> Option<SystemTime> {
    metadata?.get(CREATED_METADATA_KEY).and_then(|v| parse_mtime(v))
}

#[async_trait::async_trait]
impl ObjectStore for S3Store {
    #[tracing::instrument(level = "debug", skip(self))]
    async fn head(&self, key: &str) -> Result<ObjectMeta, StoreError> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_err("HeadObject", key, e))?;
        Ok(ObjectMeta {
            key: key.to_owned(),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            etag: ETag::new(out.e_tag().unwrap_or_default()),
            last_modified: to_system_time(out.last_modified()),
            mtime: meta_from_user(out.metadata()),
            token: token_from_user(out.metadata()),
            attributes: attributes_from_user(out.metadata()),
            created: created_from_user(out.metadata()),
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn get_range(&self, key: &str, range: Range<u64>, if_match: Option<&ETag>) -> Result<GetObject, StoreError> {
        debug_assert!(range.start < range.end, "empty ranges are not sent");
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .range(format!("bytes={}-{}", range.start, range.end - 1))
            .set_if_match(if_match.map(ETag::quoted))
            .send()
            .await
            .map_err(|e| map_err("GetObject", key, e))?;
        let total = out
            .content_range()
            .and_then(|r| r.rsplit('/').next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| out.content_length().unwrap_or(0).max(0) as u64);
        let meta = ObjectMeta {
            key: key.to_owned(),
            size: total,
            etag: ETag::new(out.e_tag().unwrap_or_default()),
            last_modified: to_system_time(out.last_modified()),
            mtime: meta_from_user(out.metadata()),
            token: token_from_user(out.metadata()),
            attributes: attributes_from_user(out.metadata()),
            created: created_from_user(out.metadata()),
        };
        let owned_key = key.to_owned();
        let body = futures::stream::unfold((out.body, owned_key), |(mut body, key)| async move {
            match body.next().await {
                None => None,
                Some(Ok(chunk)) => Some((Ok(chunk), (body, key))),
                Some(Err(e)) => {
                    let err = StoreError::new(StoreErrorKind::Network, "GetObject body", key.clone(), Some(e.into()));
                    Some((Err(err), (body, key)))
                }
            }
        });
        Ok(GetObject {
            meta,
            body: Box::pin(body),
        })
    }

    #[tracing::instrument(level = "debug", skip(self))]
    async fn list_page(
        &self,
        prefix: &str,
        delimiter: Option<&str>,
        continuation: Option<&str>,
        max_keys: Option<u32>,
    ) -> Result<ListPage, StoreError> {
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_delimiter(delimiter.map(str::to_owned))
            .set_continuation_token(continuation.map(str::to_owned))
            .set_max_keys(max_keys.map(|m| m.min(1000) as i32))
            // Keys may hold characters XML 1.0 cannot carry; ask for them URL-encoded.
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .send()
            .await
            .map_err(|e| map_err("ListObjectsV2", prefix, e))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectMeta {
                    key: url_decode(o.key()?),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: ETag::new(o.e_tag().unwrap_or_default()),
                    last_modified: to_system_time(o.last_modified()),
                    mtime: None,
                    token: None,
                    attributes: 0,
                    created: None,
                })
            })
            .collect();
        let prefixes = out
            .common_prefixes()
            .iter()
            .filter_map(|p| p.prefix().map(url_decode))
            .collect();
        let next = if out.is_truncated() == Some(true) {
            out.next_continuation_token().map(str::to_owned)
        } else {
            None
        };
        Ok(ListPage {
            objects,
            prefixes,
            next,
        })
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        cond: &WriteCondition,
        stamp: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        self.put_object(key, body, cond, stamp).await
    }

    async fn create_multipart(&self, key: &str, stamp: Option<Stamp>) -> Result<String, StoreError> {
        self.create_multipart_upload(key, stamp).await
    }

    async fn upload_part(&self, key: &str, upload_id: &str, part: u32, body: Bytes) -> Result<ETag, StoreError> {
        self.upload_one_part(key, upload_id, part, body).await
    }

    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part: u32,
        src: &str,
        range: Range<u64>,
        src_etag: Option<&ETag>,
    ) -> Result<ETag, StoreError> {
        self.copy_one_part(key, upload_id, part, src, range, src_etag).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(u32, ETag)],
        cond: &WriteCondition,
    ) -> Result<ETag, StoreError> {
        self.complete_multipart_upload(key, upload_id, parts, cond).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), StoreError> {
        self.abort_multipart_upload(key, upload_id).await
    }

    async fn copy(
        &self,
        src: &str,
        dst: &str,
        src_etag: Option<&ETag>,
        replace: Option<Stamp>,
    ) -> Result<ETag, StoreError> {
        self.copy_whole(src, dst, src_etag, replace).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.delete_one(key).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<(), StoreError> {
        self.delete_batch(keys).await
    }
}

#[cfg(test)]
mod tests {
    use super::url_decode;

    #[test]
    fn listing_keys_are_url_decoded() {
        assert_eq!(url_decode("a%2Bb+c%01d/%E6%96%87"), "a+b c\u{1}d/文");
    }
}
