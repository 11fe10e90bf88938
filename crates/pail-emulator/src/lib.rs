//! Local AWS endpoints for pail's tests and `pail demo`: a real-HTTP S3 server on 127.0.0.1,
//! built on `s3s`, with SigV4 checked against configured keys and the credentials its own
//! IAM Identity Center issued, plus that Identity Center (SSO OIDC + portal) and STS
//! GetCallerIdentity on a second port.
//!
//! The emulator runs in-process on the caller's tokio runtime and listens on a free port of
//! 127.0.0.1; nothing else is ever contacted. Tests seed objects directly through
//! [`Emulator::put`] (no HTTP round trip) and observe or change the server's state the same way,
//! as another client of the bucket would.
//!
//! # Layout
//! - `objects` — the object table (in memory or under a data directory).
//! - `s3` — the `s3s::S3` implementation and the access [`Policy`].
//! - `writes` — PUT, multipart, copy and delete calls, with conditions and the SSE log.
//! - `identity` — sign-in state: client registrations, device codes, sessions, tokens, issued
//!   keys, with configurable [`Lifetimes`].
//! - `identity_http` — SSO OIDC, SSO portal, STS and the device verification page on the wire.
//! - `browser` — a test's browser: approve or deny a device code on the verification page.
//! - `access` — who may call S3: static keys, issued keys while valid, the per-user policy.
//! - `server` — the hyper accept loop (TCP_NODELAY on every connection) and fault injection.

mod access;
pub mod browser;
mod hold;
mod identity;
mod identity_http;
mod idp;
mod idp_http;
mod lost;
mod network;
mod objects;
mod s3;
mod server;
mod tally;
mod writes;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;

pub use hold::Held;
pub use identity::{ACCOUNT_ID, Identity, Lifetimes, ROLE_ID, ROLE_NAME};
pub use idp::{FEDERATED_ROLE, FEDERATED_ROLE_ID, IDP_CLIENT_ID, federated_role_arn};
pub use lost::{LostAnswers, LostAs, S3Op};
pub use network::{Network, RequestKind};
pub use objects::{ObjectInfo, PutOptions};
pub use s3::Policy;
pub use server::Faults;
pub use writes::WriteRecord;

/// The access key the emulator accepts unless told otherwise.
pub const DEFAULT_ACCESS_KEY: &str = "PAILTESTACCESSKEY";
/// The secret key the emulator accepts unless told otherwise.
pub const DEFAULT_SECRET_KEY: &str = "pail-test-secret-key";
/// The region the emulator reports.
pub const REGION: &str = "us-east-1";

/// An AWS config file with an IAM Identity Center profile `profile` (sso-session of the same
/// name) for this emulator's account and role: what an administrator hands out, for tests and
/// `pail demo --sso`.
pub fn sso_config(profile: &str) -> String {
    format!(
        "[profile {profile}]\nsso_session = {profile}\nsso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE_NAME}\nregion = {REGION}\n\n\
         [sso-session {profile}]\nsso_start_url = https://d-1234567890.awsapps.com/start\nsso_region = {REGION}\n\
         sso_registration_scopes = sso:account:access\n"
    )
}

/// Errors starting or seeding the emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// The listening socket could not be opened.
    #[error("cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// The data directory could not be read or written.
    #[error("cannot use the emulator's data directory")]
    Data(#[source] std::io::Error),
}

/// How to start an [`Emulator`].
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Keep object bytes under this directory instead of in memory.
    pub data_dir: Option<PathBuf>,
    /// Accepted (access key id, secret) pairs.
    pub keys: Vec<(String, String)>,
    /// Buckets created at start.
    pub buckets: Vec<String>,
    /// Port to listen on; 0 picks a free one.
    pub port: u16,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        Self {
            data_dir: None,
            keys: vec![(DEFAULT_ACCESS_KEY.into(), DEFAULT_SECRET_KEY.into())],
            buckets: Vec::new(),
            port: 0,
        }
    }
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    s3: s3::EmulatedS3,
    keys: Vec<(String, String)>,
    faults: Arc<RwLock<Faults>>,
    identity: Identity,
    identity_addr: SocketAddr,
    per_user: Arc<AtomicBool>,
    _server: server::ServerHandle,
    _identity_server: server::ServerHandle,
}

impl Emulator {
    /// Starts an in-memory emulator with the default keys and the given buckets.
    pub async fn start_with_buckets(buckets: &[&str]) -> Result<Self, EmulatorError> {
        let config = EmulatorConfig {
            buckets: buckets.iter().map(|b| (*b).to_owned()).collect(),
            ..Default::default()
        };
        Self::start(config).await
    }

    /// Starts an emulator as configured.
    pub async fn start(config: EmulatorConfig) -> Result<Self, EmulatorError> {
        let table = match &config.data_dir {
            Some(dir) => objects::ObjectTable::in_dir(dir).map_err(EmulatorError::Data)?,
            None => objects::ObjectTable::in_memory(),
        };
        for b in &config.buckets {
            table.create_bucket(b).map_err(EmulatorError::Data)?;
        }
        let s3 = s3::EmulatedS3 {
            table,
            policy: Arc::new(RwLock::new(Policy::default())),
            writes: writes::WriteState::default(),
        };
        let identity = Identity::default();
        let keys = access::Keys {
            static_keys: config.keys.clone(),
            identity: identity.clone(),
        };
        let per_user = Arc::new(AtomicBool::new(false));
        let mut builder = s3s::service::S3ServiceBuilder::new(s3.clone());
        builder.set_auth(keys.clone());
        builder.set_access(access::Access {
            keys,
            per_user: per_user.clone(),
        });
        let service = server::s3_handler(builder.build());
        let faults = Arc::new(RwLock::new(Faults::default()));
        let (addr, server) = server::serve(service, config.port, faults.clone())
            .await
            .map_err(EmulatorError::Bind)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(EmulatorError::Bind)?;
        let identity_addr = listener.local_addr().map_err(EmulatorError::Bind)?;
        let identity_service = identity_http::IdentityService {
            identity: identity.clone(),
            base: format!("http://{identity_addr}"),
            static_keys: config.keys.iter().map(|(ak, _)| ak.clone()).collect(),
        };
        let identity_server = server::serve_on(listener, identity_service.handler(), faults.clone());
        tracing::info!(%addr, %identity_addr, "emulator listening");
        Ok(Self {
            addr,
            s3,
            keys: config.keys,
            faults,
            identity,
            identity_addr,
            per_user,
            _server: server,
            _identity_server: identity_server,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:<port>` of the identity services: SSO OIDC, SSO portal and STS
    /// (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_SSO`, `AWS_ENDPOINT_URL_STS`), and the
    /// device verification page at `/device`.
    pub fn identity_endpoint(&self) -> String {
        format!("http://{}", self.identity_addr)
    }

    /// The issuer URL of the emulated company OIDC provider (`<identity endpoint>/idp`), for a
    /// profile that signs in without Identity Center (`pail_oidc_issuer`).
    pub fn idp_issuer(&self) -> String {
        format!("http://{}/idp", self.identity_addr)
    }

    /// An AWS config file with a profile `profile` that signs in to this emulator's company IdP
    /// and assumes [`FEDERATED_ROLE`]: sign-in without Identity Center.
    pub fn federated_config(&self, profile: &str) -> String {
        format!(
            "[profile {profile}]\npail_oidc_issuer = {}\npail_oidc_client_id = {IDP_CLIENT_ID}\nrole_arn = {}\nregion = {REGION}\n",
            self.idp_issuer(),
            federated_role_arn()
        )
    }

    /// The emulated Identity Center: lifetimes, approvals, session ends, issued secrets.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Confines every issued session to keys under `<its aws:userid>/`, like the company's
    /// per-user folder policy. Static keys stay unrestricted (an administrator).
    pub fn set_per_user_policy(&self, on: bool) {
        self.per_user.store(on, Ordering::Relaxed);
    }

    /// The socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The first configured (access key id, secret) pair.
    pub fn credentials(&self) -> (&str, &str) {
        let (a, s) = self
            .keys
            .first()
            .map(|(a, s)| (a.as_str(), s.as_str()))
            .unwrap_or(("", ""));
        (a, s)
    }

    /// Creates a bucket (no-op when it exists).
    pub fn create_bucket(&self, bucket: &str) -> Result<(), EmulatorError> {
        self.s3
            .table
            .create_bucket(bucket)
            .map(|_| ())
            .map_err(EmulatorError::Data)
    }

    /// Stores an object directly, as another client writing to the bucket would.
    pub fn put(&self, bucket: &str, key: &str, data: impl Into<Bytes>) -> Result<ObjectInfo, EmulatorError> {
        self.put_with(bucket, key, data, PutOptions::default())
    }

    /// Stores an object with metadata directly.
    pub fn put_with(
        &self,
        bucket: &str,
        key: &str,
        data: impl Into<Bytes>,
        opts: PutOptions,
    ) -> Result<ObjectInfo, EmulatorError> {
        self.s3
            .table
            .put(bucket, key, data.into(), opts)
            .map_err(EmulatorError::Data)
    }

    /// Removes an object directly.
    pub fn delete(&self, bucket: &str, key: &str) -> Result<bool, EmulatorError> {
        self.s3.table.delete(bucket, key).map_err(EmulatorError::Data)
    }

    /// The metadata of an object, if present.
    pub fn head(&self, bucket: &str, key: &str) -> Option<ObjectInfo> {
        self.s3.table.get(bucket, key).map(|o| o.info)
    }

    /// Denies every request for keys under `prefix` in `bucket` with 403 AccessDenied.
    pub fn deny_prefix(&self, bucket: &str, prefix: &str) {
        let mut p = self.s3.policy.write().unwrap_or_else(|e| e.into_inner());
        p.denied_prefixes.push((bucket.to_owned(), prefix.to_owned()));
    }

    /// Every object-creating call received so far (PutObject, CreateMultipartUpload,
    /// CopyObject) with the SSE headers it carried.
    pub fn write_log(&self) -> Vec<WriteRecord> {
        self.s3.writes.log()
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn open_multipart_uploads(&self) -> usize {
        self.s3.open_uploads()
    }

    /// Waits up to `limit` until a multipart upload in progress to `key` in any bucket holds at
    /// least `parts` parts; `false` if it timed out. Lets a test see what a client sends while
    /// a file is still open, without polling.
    pub fn wait_for_pending_parts(&self, key: &str, parts: usize, limit: std::time::Duration) -> bool {
        self.s3.writes.wait_for_parts(key, parts, limit)
    }

    /// UploadPart and UploadPartCopy calls answered so far.
    pub fn part_calls(&self) -> u64 {
        self.s3.writes.part_calls()
    }

    /// Injects failures and latency into every request from now on.
    pub fn set_faults(&self, faults: Faults) {
        *self.faults_mut() = faults;
    }

    fn faults_mut(&self) -> std::sync::RwLockWriteGuard<'_, Faults> {
        self.faults.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the next `count` requests of kind `op`, then loses their answers `how` (on top of
    /// the faults already set). Returns the rule, whose `remaining` tells how many are left.
    pub fn lose_answers(&self, op: S3Op, how: LostAs, count: u32) -> LostAnswers {
        let rule = LostAnswers::new(op, how, count);
        self.faults_mut().lost.push(rule.clone());
        rule
    }

    /// Holds every request of kind `op` back, before it is applied, until the returned hold is
    /// released (on top of the faults already set).
    pub fn hold(&self, op: S3Op) -> Held {
        let held = Held::new(op);
        self.faults_mut().held.push(held.clone());
        held
    }

    /// Every key in `bucket` under `prefix`, in order.
    pub fn keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        self.s3
            .table
            .list(bucket, prefix, None, None, usize::MAX)
            .map(|l| l.objects.into_iter().map(|o| o.key).collect())
            .unwrap_or_default()
    }

    /// The bytes of an object, if present.
    pub async fn get(&self, bucket: &str, key: &str) -> Option<Bytes> {
        let obj = self.s3.table.get(bucket, key)?;
        s3::read_payload(&obj.payload, 0..obj.info.size).await.ok()
    }
}
