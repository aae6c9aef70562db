//! Fetching a file from where a signed event says RealtimeKit keeps it. The URL comes from a delivery, so it is
//! held to where RealtimeKit's files are: https only, and never an address inside our own network. Every name is
//! resolved through [`PublicOnly`], which drops loopback, private, link-local, unique-local, shared and metadata
//! addresses, and every redirect hop is checked again; a URL naming such an address directly is refused before
//! anything is sent. A transfer slower than the minimum rate fails its attempt instead of holding a worker.
//!
//! `archive.allow_private_sources = true` lifts the network rules, for tests and local trials against a local store.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;

/// Redirects followed at most (each hop checked like the first URL).
const MAX_REDIRECTS: usize = 5;
/// The window over which the minimum transfer rate is measured.
pub const RATE_WINDOW: Duration = Duration::from_secs(30);

/// Whether a URL may be fetched at all: https, and not a literal address inside our network.
pub fn check_url(url: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if allow_private {
        return match url.scheme() {
            "https" | "http" => Ok(()),
            other => Err(format!("a download URL must be https, not {other}")),
        };
    }
    if url.scheme() != "https" {
        return Err(format!("a download URL must be https, not {}", url.scheme()));
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
        None => return Err("a download URL must name a host".to_owned()),
    };
    match literal {
        Some(ip) if !is_public(ip) => Err(format!("{ip} is not a public address")),
        _ => Ok(()),
    }
}

/// Whether a redirect to `next`, after `hops` URLs already fetched, may be followed: the same rules as the first URL,
/// and [`MAX_REDIRECTS`] at most.
fn may_follow(hops: usize, next: &reqwest::Url, allow_private: bool) -> Result<(), String> {
    if hops > MAX_REDIRECTS {
        return Err(format!("more than {MAX_REDIRECTS} redirects"));
    }
    check_url(next, allow_private).map_err(|why| format!("a redirect was refused: {why}"))
}

/// An address on the public internet: not loopback, private, link-local (the cloud metadata service), unique-local,
/// shared (carrier-grade NAT), multicast, unspecified, reserved or documentation space, including IPv4 addresses
/// written as IPv6.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    let nat64 = ip.segments()[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    let embedded_v4 = || {
        let [.., a, b, c, d] = ip.octets();
        Ipv4Addr::new(a, b, c, d)
    };
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7 (fd00:ec2::254 is a metadata address)
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || nat64 && !is_public_v4(embedded_v4()))
}

/// Resolves names as the system does, keeping public addresses only; a name with none fails to resolve.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                let refused = format!("{host} resolves to no public address; downloads go only to the internet");
                return Err(refused.into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

/// The client for pre-signed download URLs: no token, every redirect hop checked like the first URL, public
/// addresses only (unless `allow_private`), and a stalled connection fails instead of hanging.
pub fn client(allow_private: bool) -> reqwest::Client {
    let redirects = reqwest::redirect::Policy::custom(move |attempt| {
        match may_follow(attempt.previous().len(), attempt.url(), allow_private) {
            Ok(()) => attempt.follow(),
            Err(why) => attempt.error(why),
        }
    });
    let builder = reqwest::Client::builder()
        .user_agent(concat!("rtk-sessions/", env!("CARGO_PKG_VERSION")))
        .redirect(redirects)
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(60));
    let builder = if allow_private {
        builder
    } else {
        builder.dns_resolver(Arc::new(PublicOnly))
    };
    builder.build().unwrap_or_default()
}

/// Why a transfer stopped.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Source(#[from] reqwest::Error),
    #[error("the transfer was slower than {min_bytes_per_sec} bytes/s over {}s ({received} bytes)", window.as_secs_f64())]
    TooSlow {
        min_bytes_per_sec: u64,
        received: u64,
        window: Duration,
    },
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Bytes, reqwest::Error>> + Send>>;

/// The response's bytes, failing once a `window` (the archive uses [`RATE_WINDOW`]) passes with fewer than
/// `min_bytes_per_sec` per second received in it: a source that trickles a byte every few seconds fails the attempt
/// within a window or so.
pub fn at_least(
    response: reqwest::Response,
    min_bytes_per_sec: u64,
    window: Duration,
) -> impl Stream<Item = Result<Bytes, TransferError>> + Send + Unpin {
    let chunks: Chunks = Box::pin(response.bytes_stream());
    let needed = (min_bytes_per_sec as f64 * window.as_secs_f64()) as u64;
    let too_slow = move |received| TransferError::TooSlow {
        min_bytes_per_sec,
        received,
        window,
    };
    let state = (chunks, Instant::now() + window, 0u64, false);
    Box::pin(futures_util::stream::unfold(
        state,
        move |(mut chunks, mut window_ends, mut received, failed)| async move {
            if failed {
                return None;
            }
            loop {
                match tokio::time::timeout_at(window_ends, chunks.next()).await {
                    Ok(Some(Ok(chunk))) => {
                        received += chunk.len() as u64;
                        if Instant::now() >= window_ends {
                            if received < needed {
                                return Some((Err(too_slow(received)), (chunks, window_ends, received, true)));
                            }
                            (window_ends, received) = (Instant::now() + window, 0);
                        }
                        return Some((Ok(chunk), (chunks, window_ends, received, false)));
                    }
                    Ok(Some(Err(error))) => return Some((Err(error.into()), (chunks, window_ends, received, true))),
                    Ok(None) => return None,
                    Err(_) if received < needed => {
                        return Some((Err(too_slow(received)), (chunks, window_ends, received, true)));
                    }
                    Err(_) => (window_ends, received) = (Instant::now() + window, 0),
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_and_https_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
        ] {
            assert!(!is_public(private.parse().expect("an address")), "{private}");
        }
        for public in ["1.1.1.1", "104.16.0.1", "2606:4700::1111"] {
            assert!(is_public(public.parse().expect("an address")), "{public}");
        }
        let url = |u: &str| reqwest::Url::parse(u).expect("a URL");
        assert!(check_url(&url("https://files.example.com/a.mp4"), false).is_ok());
        assert!(check_url(&url("http://files.example.com/a.mp4"), false).is_err());
        assert!(check_url(&url("https://127.0.0.1/a.mp4"), false).is_err());
        assert!(check_url(&url("https://[::1]/a.mp4"), false).is_err());
        assert!(check_url(&url("http://127.0.0.1/a.mp4"), true).is_ok());
        assert!(check_url(&url("file:///etc/passwd"), true).is_err());

        // Every redirect hop is held to the same rules: a public https URL may send us nowhere inside.
        assert!(may_follow(1, &url("https://cdn.example.com/a.mp4"), false).is_ok());
        for inside in [
            "http://127.0.0.1:8080/admin",
            "https://169.254.169.254/latest/meta-data/",
            "https://[fd00::1]/",
        ] {
            let refused = may_follow(1, &url(inside), false).expect_err(inside);
            assert!(refused.contains("redirect was refused"), "{refused}");
        }
        assert!(may_follow(MAX_REDIRECTS + 1, &url("https://cdn.example.com/a.mp4"), false).is_err());
    }

    /// A server that answers with a 1,000-byte length and then sends one byte every `every`.
    async fn trickling_server(every: Duration) -> String {
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                tokio::spawn(async move {
                    // The request first: an answer before it is a protocol error to the client.
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tokio::io::AsyncReadExt::read(&mut socket, &mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
                    if socket.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for _ in 0..1000 {
                        if socket.write_all(b"x").await.is_err() {
                            return;
                        }
                        tokio::time::sleep(every).await;
                    }
                });
            }
        });
        format!("http://{address}/recording.mp4")
    }

    #[tokio::test]
    async fn a_trickling_source_fails_within_a_window_or_so() {
        let url = trickling_server(Duration::from_millis(400)).await;
        let response = client(true).get(url).send().await.expect("answers");
        let started = std::time::Instant::now();
        let mut stream = at_least(response, 1024, Duration::from_secs(1));
        let mut failure = None;
        while let Some(item) = stream.next().await {
            if let Err(error) = item {
                failure = Some(error);
                break;
            }
        }
        let failure = failure.expect("the trickle fails");
        assert!(matches!(failure, TransferError::TooSlow { .. }), "{failure}");
        assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    }
}
