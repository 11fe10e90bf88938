//! A minimal browser for tests: opens the device verification page the sign-in printed and
//! presses Allow (as a given user) or Deny, over real HTTP like a person's browser would.

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
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let req = format!(
        "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw).into_owned();
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
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "not an emulator verification URL");
    let rest = verification_uri_complete.strip_prefix("http://").ok_or_else(bad)?;
    let (addr, path) = rest.split_once('/').ok_or_else(bad)?;
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
