//! Sign-in against pail-emulator's IAM Identity Center over real HTTP: device flow, token
//! cache, refresh, session end and re-consent, and the errors a user sees for bad profiles.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use pail_auth::{Auth, AuthConfig, AuthError, AuthEvent, Endpoints, Source};
use pail_emulator::{Emulator, EmulatorConfig, Lifetimes};

struct Setup {
    emu: Emulator,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        let emu = Emulator::start(EmulatorConfig::default()).await.expect("emulator");
        let dir = tempfile::tempdir().expect("dir");
        Self { emu, dir }
    }

    fn config(&self, body: &str) -> PathBuf {
        let path = self.dir.path().join("config");
        std::fs::write(&path, body).expect("write config");
        path
    }

    fn cache_dir(&self) -> PathBuf {
        self.dir.path().join("sso-cache")
    }

    async fn auth(&self, config: &Path, profile: &str) -> Result<Auth, AuthError> {
        let endpoint = self.emu.identity_endpoint();
        Auth::new(AuthConfig {
            endpoints: Endpoints::all_at(endpoint),
            token_cache_dir: Some(self.cache_dir()),
            consent_wait: Duration::from_secs(30),
            ..AuthConfig::new(Source::Profile {
                name: profile.into(),
                config_file: Some(config.to_owned()),
                credentials_file: Some(self.dir.path().join("credentials")),
            })
        })
        .await
    }
}

/// Approves (or denies) every sign-in the auth layer announces, as the user would.
fn approve_all(auth: &Auth, user: Option<&'static str>) -> tokio::task::JoinHandle<Vec<&'static str>> {
    let mut events = auth.sso().expect("sso").events();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(e) = events.recv().await {
            match &e {
                AuthEvent::SignInNeeded(d) | AuthEvent::ReconsentNeeded(d) => {
                    let kind = if matches!(e, AuthEvent::ReconsentNeeded(_)) {
                        "reconsent"
                    } else {
                        "sign-in"
                    };
                    seen.push(kind);
                    let page = pail_emulator::browser::decide(&d.verification_uri_complete, user)
                        .await
                        .expect("page");
                    assert_eq!(page.status, 200, "{}", page.body);
                }
                AuthEvent::SignedIn => seen.push("signed-in"),
                AuthEvent::SignInFailed(_) => seen.push("failed"),
                _ => {}
            }
            if seen.len() >= 4 {
                break;
            }
        }
        seen
    })
}

#[tokio::test]
async fn device_flow_signs_in_caches_the_token_and_resolves_the_user_folder() {
    let s = Setup::new().await;
    let config = s.config(&pail_emulator::sso_config("corp"));
    let auth = s.auth(&config, "corp").await.expect("profile");
    let approver = approve_all(&auth, Some("alice@example.com"));
    auth.sso().expect("sso").sign_in(false).await.expect("sign in");
    let creds = auth
        .credentials_provider()
        .provide_credentials()
        .await
        .expect("credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    let prefix = auth.resolve_prefix("home/${aws:userid}/").await.expect("whoami");
    assert_eq!(prefix, format!("home/{}:alice@example.com/", pail_emulator::ROLE_ID));

    // The cache is the AWS CLI's: sha1 of the session name, mode 0600, camelCase fields.
    let file = s.cache_dir().join(format!("{}.json", pail_auth::cache_key("corp")));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("cache file")).expect("json");
    for field in [
        "startUrl",
        "region",
        "accessToken",
        "expiresAt",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    ] {
        assert!(json.get(field).is_some(), "{field} missing from {json}");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).expect("meta").permissions().mode() & 0o777,
        0o600
    );

    // A new Auth (another process) signs in from the cache without the browser.
    let again = s.auth(&config, "corp").await.expect("profile");
    again.sso().expect("sso").sign_in(false).await.expect("cached");
    approver.abort();
}

#[tokio::test]
async fn a_refused_refresh_asks_for_consent_and_waiting_callers_resume() {
    let s = Setup::new().await;
    // Short access tokens: every credentials request refreshes.
    s.emu.identity().set_lifetimes(Lifetimes {
        poll_interval: Duration::ZERO,
        access_token: Duration::from_secs(3),
        ..Lifetimes::default()
    });
    let config = s.config(&pail_emulator::sso_config("corp"));
    let auth = s.auth(&config, "corp").await.expect("profile");
    let approver = approve_all(&auth, Some("alice@example.com"));
    let sso = auth.sso().expect("sso").clone();
    sso.sign_in(false).await.expect("sign in");
    sso.credentials().await.expect("refreshes");
    s.emu.identity().end_sessions();
    // The session has ended: this call waits for the re-consent the approver gives.
    let creds = sso.credentials().await.expect("after re-consent");
    assert!(!creds.access_key_id().is_empty());
    let seen = approver.await.expect("approver");
    assert_eq!(seen, ["sign-in", "signed-in", "reconsent", "signed-in"]);
    assert_eq!(sso.status().sign_in_url, None);
}

#[tokio::test]
async fn denied_consent_and_unassigned_roles_say_so() {
    let s = Setup::new().await;
    let config = s.config(&pail_emulator::sso_config("corp"));
    let auth = s.auth(&config, "corp").await.expect("profile");
    let _denier = approve_all(&auth, None);
    let err = auth.sso().expect("sso").sign_in(false).await.expect_err("denied");
    assert!(matches!(err, AuthError::Denied), "{err}");

    let other = s.config(&pail_emulator::sso_config("corp").replace("S3Users", "Admins"));
    let auth = s.auth(&other, "corp").await.expect("profile");
    let _approver = approve_all(&auth, Some("bob@example.com"));
    let err = auth.sso().expect("sso").sign_in(true).await.expect_err("not assigned");
    assert!(err.to_string().contains("not assigned role Admins"), "{err}");
}

#[tokio::test]
async fn bad_profiles_name_the_problem() {
    let s = Setup::new().await;
    let config = s.config(&pail_emulator::sso_config("corp"));
    let err = s.auth(&config, "nope").await.expect_err("unknown");
    assert!(err.to_string().contains("profiles there: corp"), "{err}");

    let config = s.config(&pail_emulator::sso_config("corp").replace("sso_role_name = S3Users\n", ""));
    let err = s.auth(&config, "corp").await.expect_err("missing");
    assert!(err.to_string().contains("sso_role_name"), "{err}");

    let config = s.config("[profile broken\nregion = x\n");
    let err = s.auth(&config, "broken").await.expect_err("parse");
    let text = err.to_string();
    assert!(text.contains("config") && text.contains("line 1"), "{text}");
}

#[tokio::test]
async fn an_unreachable_identity_center_and_a_corrupt_cache_are_handled() {
    let s = Setup::new().await;
    let config = s.config(&pail_emulator::sso_config("corp"));
    // A port nothing listens on: the error says what could not be reached.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let auth = Auth::new(AuthConfig {
        endpoints: Endpoints::all_at(dead.clone()),
        token_cache_dir: Some(s.cache_dir()),
        ..AuthConfig::new(Source::Profile {
            name: "corp".into(),
            config_file: Some(config.clone()),
            credentials_file: None,
        })
    })
    .await
    .expect("profile");
    let err = auth.sso().expect("sso").sign_in(false).await.expect_err("unreachable");
    assert_eq!(err.kind(), pail_auth::AuthErrorKind::Network, "{err}");
    assert!(err.to_string().contains(&dead), "{err}");

    // A damaged cache file is "signed out": a sign-in replaces it with a valid one.
    let file = s.cache_dir().join(format!("{}.json", pail_auth::cache_key("corp")));
    std::fs::create_dir_all(s.cache_dir()).expect("dir");
    std::fs::write(&file, "{\"accessToken\": tru").expect("corrupt");
    let auth = s.auth(&config, "corp").await.expect("profile");
    let approver = approve_all(&auth, Some("alice@example.com"));
    auth.sso().expect("sso").sign_in(false).await.expect("sign in");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("valid again");
    assert!(json["accessToken"].is_string());
    approver.abort();
}
