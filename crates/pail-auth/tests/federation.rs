//! Sign-in without IAM Identity Center, against pail-emulator's company IdP and STS over real
//! HTTP: authorization code + PKCE on a loopback redirect, AssumeRoleWithWebIdentity with the
//! user's email as the session name, refresh, session end and re-consent, and bad input.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_credential_types::provider::ProvideCredentials;
use pail_auth::{Auth, AuthConfig, AuthError, AuthErrorKind, AuthEvent, Endpoints, ProfileKind, Source};
use pail_emulator::{Emulator, EmulatorConfig, FEDERATED_ROLE_ID, Lifetimes};

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

    async fn auth(&self, config: &Path) -> Result<Auth, AuthError> {
        Auth::new(AuthConfig {
            endpoints: Endpoints {
                sts: Some(self.emu.identity_endpoint()),
                ..Endpoints::default()
            },
            token_cache_dir: Some(self.dir.path().join("cache")),
            consent_wait: Duration::from_secs(30),
            ..AuthConfig::new(Source::Profile {
                name: "corp".into(),
                config_file: Some(config.to_owned()),
                credentials_file: Some(self.dir.path().join("credentials")),
            })
        })
        .await
    }
}

/// Signs in (or denies) in the "browser" at every page the auth layer opens.
fn browser(auth: &Auth, user: Option<&'static str>) -> tokio::task::JoinHandle<Vec<&'static str>> {
    let mut events = auth.sso().expect("interactive profile").events();
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Ok(e) = events.recv().await {
            match &e {
                AuthEvent::SignInNeeded(d) | AuthEvent::ReconsentNeeded(d) => {
                    seen.push(if matches!(e, AuthEvent::SignInNeeded(_)) {
                        "sign-in"
                    } else {
                        "reconsent"
                    });
                    assert!(d.user_code.is_empty(), "a browser sign-in has no code to compare");
                    let page = pail_emulator::browser::authorize(&d.verification_uri_complete, user)
                        .await
                        .expect("browser");
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
async fn pkce_sign_in_assumes_the_role_as_the_user_and_caches_the_session() {
    let s = Setup::new().await;
    let config = s.config(&s.emu.federated_config("corp"));
    let kinds = pail_auth::list_profiles(&config, None).expect("profiles");
    assert_eq!(kinds[0].kind, ProfileKind::Federated);
    let auth = s.auth(&config).await.expect("profile");
    let seen = browser(&auth, Some("alice@example.com"));
    auth.sso().expect("provider").sign_in(false).await.expect("sign in");
    let creds = auth
        .credentials_provider()
        .provide_credentials()
        .await
        .expect("credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    let prefix = auth.resolve_prefix("home/${aws:userid}/").await.expect("whoami");
    assert_eq!(prefix, format!("home/{FEDERATED_ROLE_ID}:alice@example.com/"));
    // The sign-in is cached (0600) and a second drive uses it without the browser.
    let cached: Vec<_> = std::fs::read_dir(s.dir.path().join("cache"))
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&cached[0]).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let again = s.auth(&config).await.expect("profile");
    again
        .sso()
        .expect("provider")
        .sign_in(false)
        .await
        .expect("cached sign-in");
    seen.abort();
    // No secret the emulator issued is in what the provider shows or reports.
    let shown = format!("{auth:?} {:?}", auth.sso().expect("provider").status());
    for secret in s.emu.identity().issued_secrets() {
        assert!(!shown.contains(&secret), "a secret leaked into Debug/status");
    }
}

#[tokio::test]
async fn tokens_refresh_quietly_and_an_ended_session_asks_for_consent_again() {
    let s = Setup::new().await;
    s.emu.identity().set_lifetimes(Lifetimes {
        access_token: Duration::from_secs(3),
        role_credentials: Duration::from_secs(3),
        ..Lifetimes::default()
    });
    let config = s.config(&s.emu.federated_config("corp"));
    let auth = s.auth(&config).await.expect("profile");
    let seen = browser(&auth, Some("alice@example.com"));
    let sso = auth.sso().expect("provider").clone();
    sso.sign_in(false).await.expect("sign in");
    let first = sso.credentials().await.expect("credentials");
    // Past the ID token's lifetime: the refresh token gets a new one, no browser.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let renewed = sso.credentials().await.expect("renewed");
    assert_ne!(first.access_key_id(), renewed.access_key_id());
    // The IdP session ends: the next renewal needs consent, which the "user" gives.
    s.emu.identity().end_sessions();
    tokio::time::sleep(Duration::from_secs(4)).await;
    sso.credentials().await.expect("after consent");
    let seen = seen.await.expect("browser task");
    assert_eq!(seen, ["sign-in", "signed-in", "reconsent", "signed-in"]);
}

#[tokio::test]
async fn a_denied_sign_in_and_bad_profiles_say_what_is_wrong() {
    let s = Setup::new().await;
    let config = s.config(&s.emu.federated_config("corp"));
    let auth = s.auth(&config).await.expect("profile");
    let _seen = browser(&auth, None);
    let denied = auth.sso().expect("provider").sign_in(false).await.expect_err("denied");
    assert_eq!(denied.kind(), AuthErrorKind::SignInFailed, "{denied}");

    let missing =
        s.config("[profile corp]\npail_oidc_issuer = https://idp.example.com\nrole_arn = arn:aws:iam::1:role/r\n");
    let err = s.auth(&missing).await.expect_err("no client id");
    assert!(err.to_string().contains("pail_oidc_client_id"), "{err}");

    // Issue 20: tokens never travel over plain http to another machine; refused before any
    // request.
    let plain =
        s.config("[profile corp]\npail_oidc_issuer = http://idp.example.com\npail_oidc_client_id = x\nrole_arn = arn:aws:iam::1:role/r\n");
    let err = s.auth(&plain).await.expect_err("plain http issuer");
    assert_eq!(err.kind(), AuthErrorKind::Config, "{err}");
    assert!(
        err.to_string().contains("http://idp.example.com is plain http"),
        "{err}"
    );

    let unreachable = s.config(&format!(
        "[profile corp]\npail_oidc_issuer = http://127.0.0.1:{}/idp\npail_oidc_client_id = x\nrole_arn = arn:aws:iam::1:role/r\n",
        free_port()
    ));
    let auth = s.auth(&unreachable).await.expect("profile");
    let err = auth
        .sso()
        .expect("provider")
        .sign_in(false)
        .await
        .expect_err("unreachable");
    assert_eq!(err.kind(), AuthErrorKind::Network, "{err}");
    assert!(err.to_string().contains("127.0.0.1"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

#[tokio::test]
async fn stray_connections_to_the_loopback_address_do_not_derail_the_sign_in() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Setup::new().await;
    let config = s.config(&s.emu.federated_config("corp"));
    let auth = s.auth(&config).await.expect("profile");
    let mut events = auth.sso().expect("provider").events();
    let sso = auth.sso().expect("provider").clone();
    let signing_in = tokio::spawn(async move { sso.sign_in(false).await });
    let url = loop {
        if let AuthEvent::SignInNeeded(d) = events.recv().await.expect("event") {
            break d.verification_uri_complete;
        }
    };
    let query = url.split_once('?').map(|(_, q)| q).expect("query");
    let redirect = form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "redirect_uri")
        .map(|(_, v)| v.into_owned())
        .expect("redirect_uri");
    let addr = redirect
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .expect("address")
        .to_owned();
    // A speculative connection that never sends, a favicon request, and a callback from
    // another sign-in (wrong state): each is answered or dropped, and the real one still lands.
    let _silent = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    for request in [
        "GET /favicon.ico HTTP/1.1\r\n\r\n",
        "GET /callback?code=forged&state=someone-else HTTP/1.1\r\n\r\n",
    ] {
        let mut c = tokio::net::TcpStream::connect(&addr).await.expect("connect");
        c.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        c.read_to_string(&mut answer).await.expect("answer");
        assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    }
    let page = pail_emulator::browser::authorize(&url, Some("alice@example.com"))
        .await
        .expect("browser");
    assert_eq!(page.status, 200, "{}", page.body);
    signing_in.await.expect("task").expect("signed in");
}
