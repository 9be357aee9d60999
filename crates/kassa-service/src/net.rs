//! Outbound HTTP to addresses merchants give us (postback and webhook URLs), guarded against
//! server-side request forgery: after DNS resolution, loopback, private, link-local (cloud
//! metadata lives at 169.254.169.254), unique-local, shared, multicast and unspecified
//! addresses are refused — for the first request and for every redirect — unless the operator
//! allows private targets (`server.allow_private_targets`, for set-ups where the shop runs on
//! the same network, and for tests). The check happens inside the DNS resolver, so the
//! address that was checked is the address that is connected to (no DNS rebinding window).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether `ip` is a public internet address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0
        // 100.64.0.0/10: carrier-grade NAT, often internal.
        || (o[0] == 100 && (o[1] & 0xc0) == 64)
        // 192.0.0.0/24: protocol assignments; 198.18.0.0/15: benchmarking; 240/4: reserved.
        || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        || (o[0] == 198 && (o[1] & 0xfe) == 18)
        || o[0] >= 240)
}

/// The IPv4 address an IPv6 address stands for, where the connection would reach it:
/// IPv4-mapped (`::ffff:0:0/96`), IPv4-translated (`::ffff:0:0:0/96`), IPv4-compatible
/// (`::/96`, deprecated, but stacks still route it), NAT64's well-known prefix
/// (`64:ff9b::/96`) and 6to4 (`2002::/16`, the IPv4 address in bits 16–48).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _]
        | [0, 0, 0, 0, 0xffff, 0, _, _]
        | [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // `::` and `::1` are themselves, not IPv4 addresses.
        [0, 0, 0, 0, 0, 0, 0, 0 | 1] => None,
        [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, ..] => Some(Ipv4Addr::new(o[2], o[3], o[4], o[5])),
        _ => None,
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        // fc00::/7 unique local, fe80::/10 link local, fec0::/10 site local (deprecated),
        // 2001:db8::/32 documentation.
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] & 0xffc0) == 0xfec0
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        // 2001::/32 Teredo (tunnels to an address we cannot check), 64:ff9b:1::/48 local-use
        // NAT64 (RFC 8215: to anything the operator's translator reaches), 100::/64 discard.
        || (s[0] == 0x2001 && s[1] == 0)
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || (s[0] == 0x100 && s[1..4] == [0, 0, 0]))
}

/// Why a target URL is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an `http`/`https` URL with a host.
    #[error("not an http(s) URL")]
    NotHttp,
    /// The host is, or resolves to, a non-public address.
    #[error("the address {0} is not a public internet address")]
    Private(String),
}

/// Checks a URL's scheme and, when the host is an IP literal, its address. Host names are
/// checked when resolved.
pub fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), TargetError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::NotHttp);
    }
    let ip = match url.host() {
        None => return Err(TargetError::NotHttp),
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(url::Host::Domain(d)) => match d.parse::<IpAddr>() {
            Ok(ip) => ip,
            // "localhost" never reaches DNS in some stacks; refuse it here too, with or without
            // the trailing dot of a fully qualified name.
            Err(_) if is_localhost(d) => {
                return if allow_private {
                    Ok(())
                } else {
                    Err(TargetError::Private(d.to_owned()))
                };
            }
            Err(_) => return Ok(()),
        },
    };
    if allow_private || is_public(ip) {
        Ok(())
    } else {
        Err(TargetError::Private(ip.to_string()))
    }
}

fn is_localhost(domain: &str) -> bool {
    let d = domain.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

/// Checks a merchant's URL when it is saved: the scheme, a literal address, and what the host
/// name resolves to now (all of its addresses non-public → refused). A name that does not
/// resolve now is accepted — it may only exist later — and the guarded client checks every
/// connection at send time anyway; this check is there to tell the merchant early.
pub async fn check_target(url: &reqwest::Url, allow_private: bool) -> Result<(), TargetError> {
    check_url(url, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let Some(url::Host::Domain(host)) = url.host() else {
        return Ok(());
    };
    let lookup = tokio::net::lookup_host((host, 0));
    let Ok(Ok(addrs)) = tokio::time::timeout(Duration::from_secs(3), lookup).await else {
        return Ok(());
    };
    let addrs: Vec<SocketAddr> = addrs.collect();
    match addrs.iter().find(|a| !is_public(a.ip())) {
        Some(private) if addrs.iter().all(|a| !is_public(a.ip())) => {
            Err(TargetError::Private(format!("{} ({host})", private.ip())))
        }
        _ => Ok(()),
    }
}

/// A resolver that only answers with public addresses.
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if allowed.is_empty() {
                let shown = addrs
                    .first()
                    .map_or_else(|| host.clone(), |a| a.ip().to_string());
                return Err(Box::new(TargetError::Private(format!("{shown} ({host})")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The HTTP client for merchant-supplied URLs: guarded resolver, at most three redirects
/// (each checked), a timeout, and no proxies from the environment.
pub fn guarded_client(allow_private: bool, timeout: Duration) -> reqwest::Client {
    let policy = reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("too many redirects")
        } else if let Err(e) = check_url(attempt.url(), allow_private) {
            attempt.error(e)
        } else {
            attempt.follow()
        }
    });
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(policy)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .no_proxy()
        .user_agent(concat!("Kassa/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Installs the TLS crypto provider (ring) once per process; later calls do nothing.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn refuses_every_non_public_range() {
        for blocked in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "0.1.2.3",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.170",
            "198.18.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b:1::808:808",
            "::ffff:0:7f00:1",
            "::ffff:0:a00:1",
            "::7f00:1",
            "2002:7f00:1::",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378::1",
            "fec0::1",
            "100::1",
            "2001:db8::1",
            "ff02::1",
        ] {
            assert!(!is_public(ip(blocked)), "{blocked} must be refused");
        }
        for open in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.0.1",
            "172.32.0.1",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "::ffff:0:808:808",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(open)), "{open} is public");
        }
    }

    #[test]
    fn checks_literal_hosts_in_urls() {
        let u = |s: &str| reqwest::Url::parse(s).unwrap();
        for bad in [
            "http://127.0.0.1/hook",
            "http://[::1]:8080/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://localhost/x",
            "http://a.localhost/",
            "http://localhost./x",
            "http://LOCALHOST../x",
            "http://a.localhost./",
            "http://[::ffff:0:7f00:1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://127.0.0.1./",
        ] {
            assert!(check_url(&u(bad), false).is_err(), "{bad}");
            assert!(
                check_url(&u(bad), true).is_ok(),
                "{bad} with private targets allowed"
            );
        }
        assert_eq!(
            check_url(&u("ftp://example.com/"), true),
            Err(TargetError::NotHttp)
        );
        assert!(check_url(&u("https://shop.example.com/postback"), false).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        install_tls_provider();
        let client = guarded_client(false, Duration::from_secs(2));
        let err = client.get("http://localhost:9/").send().await.unwrap_err();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
        let mut refused = false;
        while let Some(e) = source {
            refused |= e.to_string().contains("not a public internet address");
            source = e.source();
        }
        assert!(refused, "{err:?}");
    }
}
