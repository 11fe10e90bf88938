//! A minimal browser for tests: opens the device verification page the sign-in printed, or the
//! company IdP's authorize page, and presses Allow (as a given user) or Deny, over real HTTP
//! like a person's browser would — following the IdP's redirect to the client's loopback page.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the page answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageAnswer {
    /// HTTP status.
    pub status: u16,
    /// The page text.
    pub body: String,
}

async fn request(addr: &str, head: &str, body: &str) -> std::io::Result<PageAnswer> {
    let text = request_raw(addr, head, body).await?;
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok(PageAnswer { status, body })
}

/// Opens `verification_uri_complete` (`http://127.0.0.1:<port>/device?user_code=…`) and
/// approves the sign-in as `user`, or denies it when `user` is `None`.
pub async fn decide(verification_uri_complete: &str, user: Option<&str>) -> std::io::Result<PageAnswer> {
    let (addr, path) = split_url(verification_uri_complete)?;
    let page = request(addr, &format!("GET /{path} HTTP/1.1"), "").await?;
    if page.status != 200 {
        return Ok(page);
    }
    let code = path.split("user_code=").nth(1).unwrap_or("");
    let form: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("user_code", code)
        .append_pair("user", user.unwrap_or(""))
        .append_pair("action", if user.is_some() { "approve" } else { "deny" })
        .finish();
    request(
        addr,
        "POST /device HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        &form,
    )
    .await
}

fn split_url(url: &str) -> std::io::Result<(&str, &str)> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an http://127.0.0.1 URL");
    url.strip_prefix("http://")
        .ok_or_else(bad)?
        .split_once('/')
        .ok_or_else(bad)
}

/// Opens the company IdP's `authorize_url` (as pail opened it), signs in as `user` (or denies
/// with `None`), and follows the redirect to pail's loopback address: what that page answered.
pub async fn authorize(authorize_url: &str, user: Option<&str>) -> std::io::Result<PageAnswer> {
    let (addr, path) = split_url(authorize_url)?;
    let page = request(addr, &format!("GET /{path} HTTP/1.1"), "").await?;
    if page.status != 200 {
        return Ok(page);
    }
    let query = path.split_once('?').map(|(_, q)| q).unwrap_or("");
    let body = {
        let mut form = form_urlencoded::Serializer::new(String::new());
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            form.append_pair(&k, &v);
        }
        form.append_pair("user", user.unwrap_or(""))
            .append_pair("action", if user.is_some() { "approve" } else { "deny" });
        form.finish()
    };
    let decided = request_raw(
        addr,
        "POST /idp/authorize HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
        &body,
    )
    .await?;
    let Some(location) = decided
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .map(str::trim)
    else {
        let status = decided
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        return Ok(PageAnswer { status, body: decided });
    };
    let (addr, path) = split_url(location)?;
    request(addr, &format!("GET /{path} HTTP/1.1"), "").await
}

async fn request_raw(addr: &str, head: &str, body: &str) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    Ok(String::from_utf8_lossy(&raw).into_owned())
}
