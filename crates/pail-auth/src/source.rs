//! Where a drive's credentials come from, turned into one provider for aws-sdk-s3: static keys,
//! an SSO or company-federated profile (pail's own [`SsoProvider`], which can sign in and ask
//! for consent again), or
//! any other profile kind through aws-config's profile provider reading the chosen files. Also
//! who the credentials belong to (STS GetCallerIdentity) and the `${aws:userid}` prefix.

use std::path::PathBuf;
use std::time::Duration;

use aws_config::profile::ProfileFileCredentialsProvider;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_runtime::env_config::file::{EnvConfigFileKind, EnvConfigFiles};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::cache::{TokenCache, default_cache_dir};
use crate::error::AuthError;
use crate::federation::OidcClient;
use crate::flow::Flow;
use crate::profiles::{FederatedProfile, ProfileKind, SsoProfile, load_profile};
use crate::provider::SsoProvider;
use crate::sso::{Endpoints, SsoClient};

/// A credentials source.
#[derive(Clone)]
pub enum Source {
    /// Static keys.
    Keys {
        /// Access key id.
        access_key_id: String,
        /// Secret access key.
        secret_access_key: String,
        /// Session token of temporary keys.
        session_token: Option<String>,
    },
    /// A profile of an AWS config file.
    Profile {
        /// The profile name.
        name: String,
        /// The config file; `None` is `AWS_CONFIG_FILE` or `~/.aws/config`.
        config_file: Option<PathBuf>,
        /// The credentials file; `None` is `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
        credentials_file: Option<PathBuf>,
    },
    /// The SDK's default chain: environment keys, the default profile, container and instance
    /// credentials.
    DefaultChain,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Keys { access_key_id, .. } => f
                .debug_struct("Keys")
                .field("access_key_id", access_key_id)
                .finish_non_exhaustive(),
            Self::Profile { name, config_file, .. } => f
                .debug_struct("Profile")
                .field("name", name)
                .field("config_file", config_file)
                .finish_non_exhaustive(),
            Self::DefaultChain => f.write_str("DefaultChain"),
        }
    }
}

/// How to build an [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// Where credentials come from.
    pub source: Source,
    /// Identity endpoint overrides.
    pub endpoints: Endpoints,
    /// The SSO token cache directory; `None` is the AWS CLI's `~/.aws/sso/cache`.
    pub token_cache_dir: Option<PathBuf>,
    /// The HTTP client for identity calls (the binary passes one honouring `AWS_CA_BUNDLE`).
    pub http_client: Option<SharedHttpClient>,
    /// How long a file operation waits for the user to consent again before it fails.
    pub consent_wait: Duration,
}

impl AuthConfig {
    /// A config for `source` with default endpoints and cache.
    pub fn new(source: Source) -> Self {
        Self {
            source,
            endpoints: Endpoints::default(),
            token_cache_dir: None,
            http_client: None,
            consent_wait: Duration::from_secs(120),
        }
    }
}

fn home_file(var: &str, name: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        crate::cache::aws_dir()
            .unwrap_or_else(|| PathBuf::from(".aws"))
            .join(name)
    })
}

/// `AWS_CONFIG_FILE` or `~/.aws/config`.
pub fn default_config_file() -> PathBuf {
    home_file("AWS_CONFIG_FILE", "config")
}

/// `AWS_SHARED_CREDENTIALS_FILE` or `~/.aws/credentials`.
pub fn default_credentials_file() -> PathBuf {
    home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
}

/// Who the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// `aws:userid`: `AROA…:<session name>` for a role session, `AIDA…` for an IAM user.
    pub user_id: String,
    /// The account id.
    pub account: String,
    /// The ARN.
    pub arn: String,
}

/// A drive's credentials.
#[derive(Debug, Clone)]
pub struct Auth {
    provider: SharedCredentialsProvider,
    sso: Option<SsoProvider>,
    region: Option<String>,
    endpoints: Endpoints,
    http_client: Option<SharedHttpClient>,
}

impl Auth {
    /// Resolves the source (reading and checking the profile) without contacting anything.
    pub async fn new(config: AuthConfig) -> Result<Self, AuthError> {
        let AuthConfig {
            source,
            endpoints,
            token_cache_dir,
            http_client,
            consent_wait,
        } = config;
        let (provider, sso, region) = match source {
            Source::DefaultChain => {
                // The SDK's default chain less EC2 instance metadata, which a desktop does not
                // have: asking it cost a connection attempt and a multi-line error before the
                // one-line answer. A profile that names it (`credential_source =
                // Ec2InstanceMetadata`) still reaches it.
                use aws_config::meta::credentials::CredentialsProviderChain;
                let chain = CredentialsProviderChain::first_try(
                    "Environment",
                    aws_config::environment::credentials::EnvironmentVariableCredentialsProvider::new(),
                )
                .or_else(
                    "Profile",
                    aws_config::profile::ProfileFileCredentialsProvider::builder().build(),
                )
                .or_else(
                    "WebIdentityToken",
                    aws_config::web_identity_token::WebIdentityTokenCredentialsProvider::builder().build(),
                )
                .or_else(
                    "EcsContainer",
                    aws_config::ecs::EcsCredentialsProvider::builder().build(),
                );
                (SharedCredentialsProvider::new(chain), None, None)
            }
            Source::Keys {
                access_key_id,
                secret_access_key,
                session_token,
            } => {
                let creds = aws_credential_types::Credentials::new(
                    access_key_id,
                    secret_access_key,
                    session_token,
                    None,
                    "pail-keys",
                );
                (SharedCredentialsProvider::new(creds), None, None)
            }
            Source::Profile {
                name,
                config_file,
                credentials_file,
            } => {
                let config_file = config_file.unwrap_or_else(default_config_file);
                let credentials_file = credentials_file.unwrap_or_else(default_credentials_file);
                let profile = load_profile(&config_file, Some(&credentials_file), &name)?;
                let region = profile.region().map(str::to_owned);
                let cache_dir = token_cache_dir.or_else(default_cache_dir).unwrap_or_default();
                if profile.kind == ProfileKind::Sso {
                    let sso = SsoProfile::from_profile(&profile, &config_file)?;
                    let cache = TokenCache::new(&cache_dir, sso.session_name.as_deref().unwrap_or(&sso.start_url));
                    let client = Flow::Sso(SsoClient::new(sso, &endpoints, http_client.as_ref()).await);
                    let provider = SsoProvider::new(client, cache, consent_wait);
                    (SharedCredentialsProvider::new(provider.clone()), Some(provider), region)
                } else if profile.kind == ProfileKind::Federated {
                    let fed = FederatedProfile::from_profile(&profile, &config_file)?;
                    // Beside the AWS CLI's files, under a name it never looks up.
                    let cache = TokenCache::new(&cache_dir, &format!("pail-oidc:{}#{}", fed.issuer, fed.client_id));
                    let client = Flow::Oidc(OidcClient::new(fed, &endpoints, http_client.as_ref()).await?);
                    let provider = SsoProvider::new(client, cache, consent_wait);
                    (SharedCredentialsProvider::new(provider.clone()), Some(provider), region)
                } else {
                    let files = EnvConfigFiles::builder()
                        .with_file(EnvConfigFileKind::Config, &config_file)
                        .with_file(EnvConfigFileKind::Credentials, &credentials_file)
                        .build();
                    let provider = ProfileFileCredentialsProvider::builder()
                        .profile_files(files)
                        .profile_name(&name)
                        .build();
                    (SharedCredentialsProvider::new(provider), None, region)
                }
            }
        };
        Ok(Self {
            provider,
            sso,
            region,
            endpoints,
            http_client,
        })
    }

    /// The provider to give aws-sdk-s3.
    pub fn credentials_provider(&self) -> SharedCredentialsProvider {
        self.provider.clone()
    }

    /// The SSO provider, for profiles that sign in through IAM Identity Center.
    pub fn sso(&self) -> Option<&SsoProvider> {
        self.sso.as_ref()
    }

    /// The region the profile sets.
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// How long an S3 request may wait for credentials: long enough for the user to consent
    /// again when an SSO session ends.
    pub fn credentials_wait(&self) -> Duration {
        self.sso
            .as_ref()
            .map_or(Duration::from_secs(5), |s| s.consent_wait() + Duration::from_secs(10))
    }

    /// STS GetCallerIdentity with these credentials.
    pub async fn caller_identity(&self) -> Result<CallerIdentity, AuthError> {
        let region = self.region.clone().unwrap_or_else(|| "us-east-1".to_owned());
        let conf = crate::sso::sts_config(&region, &self.endpoints, self.http_client.as_ref())
            .await
            .credentials_provider(self.provider.clone());
        let out = aws_sdk_sts::Client::from_conf(conf.build())
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| {
                use aws_smithy_runtime_api::client::result::SdkError;
                let code = e.code().unwrap_or_default();
                if matches!(e, SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)) {
                    AuthError::Unreachable {
                        service: "STS",
                        endpoint: self
                            .endpoints
                            .sts
                            .clone()
                            .unwrap_or_else(|| format!("sts.{region}.amazonaws.com")),
                        message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                    }
                } else if matches!(
                    code,
                    "SignatureDoesNotMatch" | "RequestExpired" | "InvalidSignatureException"
                ) && e.message().is_some_and(|m| m.contains("expired") || m.contains("time"))
                {
                    AuthError::ClockSkew {
                        message: e.message().unwrap_or_default().to_owned(),
                    }
                } else if let SdkError::ConstructionFailure(_) = &e {
                    // The credentials provider failed: say why in its words.
                    AuthError::Service {
                        op: "getting credentials",
                        message: aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                    }
                } else {
                    AuthError::Service {
                        op: "GetCallerIdentity",
                        message: format!("{code}: {}", e.message().unwrap_or("no message")),
                    }
                }
            })?;
        Ok(CallerIdentity {
            user_id: out.user_id().unwrap_or_default().to_owned(),
            account: out.account().unwrap_or_default().to_owned(),
            arn: out.arn().unwrap_or_default().to_owned(),
        })
    }

    /// `template` with `${aws:userid}` and `${aws:accountid}` replaced, asking STS who the
    /// credentials belong to only when the template needs it.
    pub async fn resolve_prefix(&self, template: &str) -> Result<String, AuthError> {
        if !template.contains("${aws:") {
            return Ok(template.to_owned());
        }
        let id = self.caller_identity().await?;
        tracing::info!(user_id = %id.user_id, "resolved the per-user folder");
        Ok(substitute(template, &id))
    }
}

/// Replaces the policy variables pail supports.
pub fn substitute(template: &str, id: &CallerIdentity) -> String {
    template
        .replace("${aws:userid}", &id.user_id)
        .replace("${aws:accountid}", &id.account)
}
