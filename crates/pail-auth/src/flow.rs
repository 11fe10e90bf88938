//! The two ways a profile signs in interactively, behind one face for [`crate::SsoProvider`]:
//! IAM Identity Center (device flow, then GetRoleCredentials) and a company OIDC IdP
//! (authorization code + PKCE, then AssumeRoleWithWebIdentity). Both keep a refreshable token
//! in the token cache and turn it into role credentials; the provider does the rest (renewal
//! ahead of expiry, re-consent, waiting callers) the same way for both.

use aws_credential_types::Credentials;

use crate::cache::CachedToken;
use crate::error::AuthError;
use crate::federation::OidcClient;
use crate::sso::{DeviceAuthorization, Fail, SsoClient};

/// How a profile signs in.
#[derive(Debug, Clone)]
pub(crate) enum Flow {
    /// IAM Identity Center.
    Sso(SsoClient),
    /// A company OIDC IdP federated to an IAM role.
    Oidc(OidcClient),
}

impl Flow {
    /// The profile's name.
    pub(crate) fn profile(&self) -> &str {
        match self {
            Self::Sso(c) => &c.profile.profile,
            Self::Oidc(c) => &c.profile.profile,
        }
    }

    /// Where the user signs in: the start URL or the IdP's issuer.
    pub(crate) fn sign_in_url(&self) -> &str {
        match self {
            Self::Sso(c) => &c.profile.start_url,
            Self::Oidc(c) => &c.profile.issuer,
        }
    }

    /// Starts a sign-in for the user to complete in the browser.
    pub(crate) async fn start(&self, reuse: Option<&CachedToken>) -> Result<DeviceAuthorization, AuthError> {
        match self {
            Self::Sso(c) => c.start(reuse).await,
            Self::Oidc(c) => c.start().await,
        }
    }

    /// Waits for the user to finish the sign-in.
    pub(crate) async fn wait(&self, dev: &DeviceAuthorization) -> Result<CachedToken, AuthError> {
        match self {
            Self::Sso(c) => c.wait(dev).await,
            Self::Oidc(c) => c.wait(dev).await,
        }
    }

    /// A fresh token from the refresh token.
    pub(crate) async fn refresh(&self, token: &CachedToken) -> Result<CachedToken, Fail> {
        match self {
            Self::Sso(c) => c.refresh(token).await,
            Self::Oidc(c) => c.refresh(token).await,
        }
    }

    /// Role credentials for the token.
    pub(crate) async fn role_credentials(&self, token: &str) -> Result<Credentials, Fail> {
        match self {
            Self::Sso(c) => c.role_credentials(token).await,
            Self::Oidc(c) => c.role_credentials(token).await,
        }
    }
}
