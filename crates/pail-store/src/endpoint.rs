//! Endpoints are https. Documents, credentials and tokens cross the network, and uploads are
//! signed without hashing their bodies (their checksum guards them together with TLS only), so
//! plain http would let anyone on the path read and change them. Plain http is accepted for a
//! loopback host (pail-emulator, a local S3-compatible store) or when the user allows it for a
//! network they trust.

use std::net::IpAddr;

/// A plain-http endpoint that was not allowed.
#[derive(Debug, thiserror::Error)]
#[error(
    "{url} is plain http: documents and credentials would cross the network unencrypted; use https, or allow http on a network you trust with --allow-http (allow_http = true for a saved drive)"
)]
pub struct InsecureEndpoint {
    /// The endpoint refused.
    pub url: String,
}

/// The environment variables that name endpoints for the AWS services pail calls.
pub const ENDPOINT_VARIABLES: [&str; 5] = [
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC",
    "AWS_ENDPOINT_URL_STS",
];

/// Refuses `url` if it is plain http to a host other than a loopback one, unless `allow_http`.
/// Other schemes are left to the HTTP client.
pub fn check_endpoint(url: &str, allow_http: bool) -> Result<(), InsecureEndpoint> {
    let trimmed = url.trim();
    let plain = trimmed
        .get(..7)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
    if !plain || allow_http || is_loopback(&trimmed[7..]) {
        return Ok(());
    }
    Err(InsecureEndpoint { url: url.to_owned() })
}

/// Checks every endpoint the environment names ([`ENDPOINT_VARIABLES`]).
pub fn check_endpoint_variables(allow_http: bool) -> Result<(), InsecureEndpoint> {
    ENDPOINT_VARIABLES
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .filter(|u| !u.is_empty())
        .try_for_each(|u| check_endpoint(&u, allow_http))
}

/// Whether the authority part of a URL (after `http://`) names a loopback host.
fn is_loopback(rest: &str) -> bool {
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_refused_unless_loopback_or_allowed() {
        for ok in [
            "https://s3.eu-west-1.amazonaws.com",
            "http://127.0.0.1:9000",
            "HTTP://127.0.0.5:1/x",
            "http://localhost:4566",
            "http://[::1]:9000/",
            "http://user@127.0.0.1:9000",
        ] {
            assert!(check_endpoint(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://s3.example.com",
            "http://10.0.0.5:9000",
            "http://127.0.0.1.example.com/",
            "http://[2001:db8::1]:9000",
            "http://localhost.example.com",
        ] {
            let e = check_endpoint(bad, false).expect_err(bad);
            assert!(e.to_string().contains("--allow-http"), "{e}");
            assert!(check_endpoint(bad, true).is_ok(), "{bad} allowed");
        }
    }
}
