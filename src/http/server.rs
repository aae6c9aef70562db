//! The connection layer: accepts TCP connections, serves HTTP/1 and HTTP/2 on them, and holds every connection to
//! the limits a public URL needs.
//!
//! - At most `server.max_connections` are open; past it the accept loop stops taking new ones, which wait in the
//!   kernel's listen backlog instead of costing file descriptors.
//! - A connection must complete a request head within `server.header_read_timeout_secs` of opening (whether it sent
//!   nothing, half a head, or an HTTP/2 preface), and a keep-alive connection with nothing in flight is closed after
//!   `server.idle_timeout_secs`. A per-connection watchdog enforces both, since hyper alone does not see a client
//!   that never sends its first bytes.
//! - On shutdown it stops accepting and lets open connections finish their requests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hyper::body::Incoming;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::observability;

#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown`, then stops accepting and waits for open connections to finish
/// their requests.
pub async fn serve(listener: TcpListener, router: axum::Router, shutdown: CancellationToken, limits: ConnectionLimits) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder
        .http2()
        .timer(hyper_util::rt::TokioTimer::new())
        .max_concurrent_streams(64)
        .max_header_list_size(32 * 1024);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        // A free slot first: past the cap, new connections stay in the listen backlog.
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: pause instead of spinning.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let service = TrackedService {
            router: router.clone(),
            activity: activity.clone(),
            peer,
        };
        let connection = builder
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _slot = slot;
            let _open = observability::connection_opened();
            tokio::select! {
                result = connection => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection closed with an error");
                    }
                }
                reason = activity.expired(limits) => {
                    observability::connection_closed_by_server(reason);
                    tracing::debug!(reason, "closed a connection");
                }
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// What a connection is doing, for its watchdog: requests in flight, and when it last went idle.
struct Activity {
    opened: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// Milliseconds after `opened` at which the last request finished.
    idle_since_ms: AtomicU64,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            idle_since_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlightRequest {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::Relaxed);
        InFlightRequest(self.clone())
    }

    /// Resolves when the connection has had nothing in flight for longer than its limit: the header read timeout
    /// before its first request, the idle timeout after. Requests in flight are bounded by the request timeout.
    async fn expired(&self, limits: ConnectionLimits) -> &'static str {
        loop {
            let (limit, reason) = if self.requests.load(Ordering::Relaxed) == 0 {
                (limits.header_read_timeout, "header_timeout")
            } else {
                (limits.idle_timeout, "idle_timeout")
            };
            if self.in_flight.load(Ordering::Acquire) > 0 {
                tokio::time::sleep(limit.min(Duration::from_secs(1))).await;
                continue;
            }
            let idle_since = self.opened + Duration::from_millis(self.idle_since_ms.load(Ordering::Acquire));
            let deadline = idle_since + limit;
            if Instant::now() >= deadline {
                return reason;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Marks a request in flight on its connection until dropped.
struct InFlightRequest(Arc<Activity>);

impl Drop for InFlightRequest {
    fn drop(&mut self) {
        let activity = &self.0;
        let elapsed = u64::try_from(activity.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.idle_since_ms.store(elapsed, Ordering::Release);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The router as hyper calls it, counting the connection's requests in flight.
#[derive(Clone)]
struct TrackedService {
    router: axum::Router,
    activity: Arc<Activity>,
    /// The client's address, for handlers that need it (`ConnectInfo`): the console's sign-in throttle.
    peer: std::net::SocketAddr,
}

impl hyper::service::Service<hyper::Request<Incoming>> for TrackedService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, mut request: hyper::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(axum::extract::ConnectInfo(self.peer));
        let in_flight = self.activity.begin();
        let response = self.router.clone().oneshot(request.map(axum::body::Body::new));
        Box::pin(async move {
            let response = response.await;
            drop(in_flight);
            response
        })
    }
}

/// Raises the soft limit on open files to the hard limit, and returns how many connections fit in it beside
/// `reserved` other descriptors (database connections, log files, the listeners).
pub fn raise_open_files_limit(max_connections: usize, reserved: usize) -> usize {
    let before = rlimit::Resource::NOFILE.get().map(|(soft, _)| soft).ok();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            if before != Some(now) {
                tracing::info!(
                    from = before,
                    to = now,
                    "raised the soft limit on open files (RLIMIT_NOFILE) to the hard limit"
                );
            }
            let fits = usize::try_from(now)
                .unwrap_or(usize::MAX)
                .saturating_sub(reserved)
                .max(1);
            if fits < max_connections {
                tracing::warn!(
                    configured = max_connections,
                    effective = fits,
                    open_files_limit = now,
                    "server.max_connections does not fit in the open-files limit; serving at most the number that fits"
                );
                return fits;
            }
            max_connections
        }
        Err(error) => {
            tracing::warn!(%error, "could not read or raise the open-files limit; server.max_connections is used as set");
            max_connections
        }
    }
}
