//! The IAM Identity Center calls, through aws-sdk-ssooidc and aws-sdk-sso: RegisterClient,
//! StartDeviceAuthorization, CreateToken (device code and refresh token grants) and
//! GetRoleCredentials, each turned into a [`CachedToken`] or credentials, and each failure into
//! "the session has ended" or an [`AuthError`] a user can act on.

use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::cache::{CachedToken, format_time};
use crate::error::AuthError;
use crate::profiles::SsoProfile;

/// Endpoint overrides for the identity services (tests and the demo point them at
/// pail-emulator). `None` uses `AWS_ENDPOINT_URL_SSO_OIDC` / `_SSO` / `_STS` or AWS.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    /// SSO OIDC (`oidc.<region>.amazonaws.com`).
    pub sso_oidc: Option<String>,
    /// The SSO portal (`portal.sso.<region>.amazonaws.com`).
    pub sso: Option<String>,
    /// STS.
    pub sts: Option<String>,
}

impl Endpoints {
    /// All three services at one `url`, as pail-emulator serves them.
    pub fn all_at(url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            sso_oidc: Some(url.clone()),
            sso: Some(url.clone()),
            sts: Some(url),
        }
    }
}

/// A sign-in waiting for the user: open [`Self::verification_uri_complete`] in a browser (or
/// go to [`Self::verification_uri`] and enter [`Self::user_code`]).
#[derive(Clone)]
pub struct DeviceAuthorization {
    /// The page to open.
    pub verification_uri: String,
    /// The page with the code filled in.
    pub verification_uri_complete: String,
    /// The code the user checks on the page.
    pub user_code: String,
    /// When the code stops working.
    pub expires_at: SystemTime,
    device_code: String,
    interval: Duration,
    client_id: String,
    client_secret: String,
    registration_expires_at: String,
    /// A company IdP sign-in: the loopback listener waiting for the browser's redirect.
    loopback: Option<std::sync::Arc<crate::federation::Loopback>>,
}

impl DeviceAuthorization {
    /// A sign-in that needs only the browser (authorization code on a loopback redirect): no
    /// code to compare, so [`Self::user_code`] is empty.
    pub(crate) fn browser(
        page: String,
        url: String,
        expires_at: SystemTime,
        loopback: std::sync::Arc<crate::federation::Loopback>,
    ) -> Self {
        Self {
            verification_uri: page,
            verification_uri_complete: url,
            user_code: String::new(),
            expires_at,
            device_code: String::new(),
            interval: Duration::ZERO,
            client_id: String::new(),
            client_secret: String::new(),
            registration_expires_at: String::new(),
            loopback: Some(loopback),
        }
    }

    pub(crate) fn loopback(&self) -> Option<&crate::federation::Loopback> {
        self.loopback.as_deref()
    }
}

impl std::fmt::Debug for DeviceAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorization")
            .field("verification_uri", &self.verification_uri)
            .field("user_code", &self.user_code)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why a call that needs a live session did not give one.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Refresh refused or token rejected: the user must sign in again.
    SessionEnded,
    /// Anything else.
    Error(AuthError),
}

impl From<AuthError> for Fail {
    fn from(e: AuthError) -> Self {
        Self::Error(e)
    }
}

/// Clients for one SSO profile.
#[derive(Debug, Clone)]
pub(crate) struct SsoClient {
    oidc: aws_sdk_ssooidc::Client,
    portal: aws_sdk_sso::Client,
    pub(crate) profile: SsoProfile,
    oidc_endpoint: String,
}

/// The SDK config the identity clients share: the profile's SSO region, no credentials (these
/// calls are unsigned), the binary's HTTP client when it has one (e.g. for `AWS_CA_BUNDLE`).
pub(crate) async fn sdk_config(region: &str, http: Option<&SharedHttpClient>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .no_credentials();
    if let Some(h) = http {
        loader = loader.http_client(h.clone());
    }
    loader.load().await
}

/// An STS client config for `region` (unsigned until the caller adds credentials), at the
/// overridden STS endpoint when there is one.
pub(crate) async fn sts_config(
    region: &str,
    endpoints: &Endpoints,
    http: Option<&SharedHttpClient>,
) -> aws_sdk_sts::config::Builder {
    let sdk = sdk_config(region, http).await;
    let mut conf = aws_sdk_sts::config::Builder::from(&sdk);
    if let Some(ep) = &endpoints.sts {
        conf = conf.endpoint_url(ep);
    }
    conf
}

fn unreachable<E, R>(service: &'static str, endpoint: &str, e: &SdkError<E, R>) -> Option<AuthError>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => Some(AuthError::Unreachable {
            service,
            endpoint: endpoint.to_owned(),
            message: aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
        }),
        _ => None,
    }
}

fn service_error<E: ProvideErrorMetadata>(op: &'static str, e: &E) -> AuthError {
    AuthError::Service {
        op,
        message: format!(
            "{}: {}",
            e.code().unwrap_or("unknown error"),
            e.message().unwrap_or("no message")
        ),
    }
}

impl SsoClient {
    pub(crate) async fn new(profile: SsoProfile, endpoints: &Endpoints, http: Option<&SharedHttpClient>) -> Self {
        let sdk = sdk_config(&profile.sso_region, http).await;
        let mut oidc = aws_sdk_ssooidc::config::Builder::from(&sdk);
        if let Some(ep) = &endpoints.sso_oidc {
            oidc = oidc.endpoint_url(ep);
        }
        let mut portal = aws_sdk_sso::config::Builder::from(&sdk);
        if let Some(ep) = &endpoints.sso {
            portal = portal.endpoint_url(ep);
        }
        let oidc_endpoint = endpoints
            .sso_oidc
            .clone()
            .unwrap_or_else(|| format!("https://oidc.{}.amazonaws.com", profile.sso_region));
        Self {
            oidc: aws_sdk_ssooidc::Client::from_conf(oidc.build()),
            portal: aws_sdk_sso::Client::from_conf(portal.build()),
            profile,
            oidc_endpoint,
        }
    }

    /// RegisterClient: (client id, secret, registration expiry).
    async fn register(&self) -> Result<(String, String, String), AuthError> {
        let session = self.profile.session_name.as_deref().unwrap_or("legacy");
        let mut req = self
            .oidc
            .register_client()
            .client_name(format!("pail-client-{session}"))
            .client_type("public");
        for s in &self.profile.scopes {
            req = req.scopes(s);
        }
        let out = req.send().await.map_err(|e| {
            unreachable("IAM Identity Center", &self.oidc_endpoint, &e)
                .unwrap_or_else(|| service_error("RegisterClient", &e))
        })?;
        let expires = SystemTime::UNIX_EPOCH + Duration::from_secs(out.client_secret_expires_at().max(0) as u64);
        Ok((
            out.client_id().unwrap_or_default().to_owned(),
            out.client_secret().unwrap_or_default().to_owned(),
            format_time(expires),
        ))
    }

    /// RegisterClient unless `reuse` holds a live registration, then StartDeviceAuthorization.
    pub(crate) async fn start(&self, reuse: Option<&CachedToken>) -> Result<DeviceAuthorization, AuthError> {
        let (client_id, client_secret, registration_expires_at) =
            match reuse.and_then(|t| Some((t.registration()?, t.registration_expires_at.clone()?))) {
                Some(((id, secret), expires)) => (id, secret, expires),
                None => self.register().await?,
            };
        let out = self
            .oidc
            .start_device_authorization()
            .client_id(&client_id)
            .client_secret(&client_secret)
            .start_url(&self.profile.start_url)
            .send()
            .await
            .map_err(|e| {
                unreachable("IAM Identity Center", &self.oidc_endpoint, &e)
                    .unwrap_or_else(|| service_error("StartDeviceAuthorization", &e))
            })?;
        let interval = if out.interval() > 0 { out.interval() as u64 } else { 5 };
        Ok(DeviceAuthorization {
            verification_uri: out.verification_uri().unwrap_or_default().to_owned(),
            verification_uri_complete: out
                .verification_uri_complete()
                .or(out.verification_uri())
                .unwrap_or_default()
                .to_owned(),
            user_code: out.user_code().unwrap_or_default().to_owned(),
            expires_at: SystemTime::now() + Duration::from_secs(out.expires_in().max(0) as u64),
            device_code: out.device_code().unwrap_or_default().to_owned(),
            interval: Duration::from_secs(interval),
            client_id,
            client_secret,
            registration_expires_at,
            loopback: None,
        })
    }

    fn token_from(
        &self,
        access_token: Option<&str>,
        expires_in: i32,
        refresh_token: Option<&str>,
        client: (&str, &str, &str),
    ) -> CachedToken {
        CachedToken {
            start_url: Some(self.profile.start_url.clone()),
            region: Some(self.profile.sso_region.clone()),
            access_token: access_token.unwrap_or_default().to_owned(),
            expires_at: format_time(SystemTime::now() + Duration::from_secs(expires_in.max(0) as u64)),
            client_id: Some(client.0.to_owned()),
            client_secret: Some(client.1.to_owned()),
            registration_expires_at: Some(client.2.to_owned()),
            refresh_token: refresh_token.map(str::to_owned),
            other: serde_json::Map::new(),
        }
    }

    /// Polls CreateToken until the user approves or denies in the browser, or the code
    /// expires, honouring `interval` and `slow_down`.
    pub(crate) async fn wait(&self, dev: &DeviceAuthorization) -> Result<CachedToken, AuthError> {
        use aws_sdk_ssooidc::operation::create_token::CreateTokenError as E;
        let mut interval = dev.interval;
        loop {
            if SystemTime::now() >= dev.expires_at {
                return Err(AuthError::TimedOut);
            }
            tokio::time::sleep(interval).await;
            let result = self
                .oidc
                .create_token()
                .client_id(&dev.client_id)
                .client_secret(&dev.client_secret)
                .grant_type("urn:ietf:params:oauth:grant-type:device_code")
                .device_code(&dev.device_code)
                .send()
                .await;
            match result {
                Ok(out) => {
                    let client = (&*dev.client_id, &*dev.client_secret, &*dev.registration_expires_at);
                    return Ok(self.token_from(out.access_token(), out.expires_in(), out.refresh_token(), client));
                }
                Err(SdkError::ServiceError(e)) => match e.err() {
                    E::AuthorizationPendingException(_) => {}
                    E::SlowDownException(_) => interval += Duration::from_secs(5),
                    E::ExpiredTokenException(_) => return Err(AuthError::TimedOut),
                    E::AccessDeniedException(_) => return Err(AuthError::Denied),
                    other => return Err(service_error("CreateToken", other)),
                },
                Err(e) => {
                    // A network blip while polling is not the end of the sign-in.
                    let err = unreachable("IAM Identity Center", &self.oidc_endpoint, &e)
                        .unwrap_or_else(|| service_error("CreateToken", &e));
                    tracing::warn!(error = %err, "polling for the sign-in failed; trying again");
                }
            }
        }
    }

    /// CreateToken with the refresh token. A refusal means the session has ended.
    pub(crate) async fn refresh(&self, token: &CachedToken) -> Result<CachedToken, Fail> {
        use aws_sdk_ssooidc::operation::create_token::CreateTokenError as E;
        let (Some(refresh), Some((id, secret)), Some(reg)) = (
            token.refresh_token.as_deref(),
            token.registration(),
            token.registration_expires_at.as_deref(),
        ) else {
            return Err(Fail::SessionEnded);
        };
        let result = self
            .oidc
            .create_token()
            .client_id(&id)
            .client_secret(&secret)
            .grant_type("refresh_token")
            .refresh_token(refresh)
            .send()
            .await;
        match result {
            Ok(out) => {
                let mut t = self.token_from(
                    out.access_token(),
                    out.expires_in(),
                    out.refresh_token(),
                    (&id, &secret, reg),
                );
                // No new refresh token in the answer: the old one stays good.
                t.refresh_token = t.refresh_token.or_else(|| token.refresh_token.clone());
                t.other = token.other.clone();
                Ok(t)
            }
            Err(SdkError::ServiceError(e)) => match e.err() {
                E::InvalidGrantException(_)
                | E::ExpiredTokenException(_)
                | E::InvalidClientException(_)
                | E::UnauthorizedClientException(_)
                | E::AccessDeniedException(_) => Err(Fail::SessionEnded),
                other => Err(Fail::Error(service_error("CreateToken", other))),
            },
            Err(e) => Err(Fail::Error(
                unreachable("IAM Identity Center", &self.oidc_endpoint, &e)
                    .unwrap_or_else(|| service_error("CreateToken", &e)),
            )),
        }
    }

    /// GetRoleCredentials for the profile's account and role.
    pub(crate) async fn role_credentials(&self, access_token: &str) -> Result<Credentials, Fail> {
        use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError as E;
        let p = &self.profile;
        let result = self
            .portal
            .get_role_credentials()
            .account_id(&p.account_id)
            .role_name(&p.role_name)
            .access_token(access_token)
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(SdkError::ServiceError(e)) => {
                return Err(match e.err() {
                    E::UnauthorizedException(_) => Fail::SessionEnded,
                    other if other.code() == Some("ForbiddenException") || e.raw().status().as_u16() == 403 => {
                        Fail::Error(AuthError::NotAssigned {
                            account: p.account_id.clone(),
                            role: p.role_name.clone(),
                            message: other.message().unwrap_or("no access").to_owned(),
                        })
                    }
                    other => Fail::Error(service_error("GetRoleCredentials", other)),
                });
            }
            Err(e) => {
                return Err(Fail::Error(
                    unreachable("the IAM Identity Center portal", &p.sso_region, &e)
                        .unwrap_or_else(|| service_error("GetRoleCredentials", &e)),
                ));
            }
        };
        let c = out.role_credentials().ok_or_else(|| AuthError::Service {
            op: "GetRoleCredentials",
            message: "the answer had no credentials".into(),
        })?;
        let expires = SystemTime::UNIX_EPOCH + Duration::from_millis(c.expiration().max(0) as u64);
        Ok(Credentials::new(
            c.access_key_id().unwrap_or_default(),
            c.secret_access_key().unwrap_or_default(),
            c.session_token().map(str::to_owned),
            Some(expires),
            "pail-sso",
        ))
    }
}
