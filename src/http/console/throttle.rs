//! Sign-in failures, throttled per client address: after [`MAX_FAILURES`] wrong tokens within [`WINDOW`], an
//! address is refused (429 with `Retry-After`) until its window has passed. Memory is bounded: at most
//! [`MAX_ADDRESSES`] addresses are tracked (about 64 bytes each, so well under 1 MiB); when the table is full of
//! live windows, every address it has no room for shares one entry, so a guesser with many addresses is slowed
//! as one. The address is the TCP peer's: behind a proxy that is the proxy's, and the proxy should limit too.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const MAX_FAILURES: u32 = 5;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_ADDRESSES: usize = 10_000;

#[derive(Default)]
pub struct SignInThrottle {
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_address: HashMap<IpAddr, Window>,
    /// The addresses the table had no room for.
    overflow: Option<Window>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

impl Window {
    fn live(&self, now: Instant) -> bool {
        now.duration_since(self.started) < WINDOW
    }
}

impl SignInThrottle {
    /// `Err(wait)` while the address has used up its failures.
    pub fn check(&self, address: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let window = failures.by_address.get(&address).or(failures.overflow.as_ref());
        match window {
            Some(window) if window.live(now) && window.count >= MAX_FAILURES => {
                Err(WINDOW.saturating_sub(now.duration_since(window.started)))
            }
            _ => Ok(()),
        }
    }

    pub fn failed(&self, address: IpAddr) {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.by_address.contains_key(&address) && failures.by_address.len() >= MAX_ADDRESSES {
            failures.by_address.retain(|_, window| window.live(now));
        }
        let Failures { by_address, overflow } = &mut *failures;
        let window = if by_address.contains_key(&address) || by_address.len() < MAX_ADDRESSES {
            by_address.entry(address).or_insert(Window { started: now, count: 0 })
        } else {
            overflow.get_or_insert(Window { started: now, count: 0 })
        };
        if !window.live(now) {
            *window = Window { started: now, count: 0 };
        }
        window.count += 1;
    }

    /// A right token clears the address's failures.
    pub fn succeeded(&self, address: IpAddr) {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        failures.by_address.remove(&address);
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.failures.lock().map(|f| f.by_address.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_its_failures_and_the_table_stays_bounded() {
        let throttle = SignInThrottle::default();
        let guesser: IpAddr = "203.0.113.7".parse().expect("an address");
        for _ in 0..MAX_FAILURES {
            assert!(throttle.check(guesser).is_ok());
            throttle.failed(guesser);
        }
        let wait = throttle.check(guesser).expect_err("throttled");
        assert!(wait > Duration::from_secs(14 * 60) && wait <= WINDOW);
        let someone_else: IpAddr = "198.51.100.1".parse().expect("an address");
        assert!(throttle.check(someone_else).is_ok());

        for i in 0..(MAX_ADDRESSES as u32 + 50) {
            throttle.failed(IpAddr::from(i.to_be_bytes()));
        }
        assert!(throttle.tracked() <= MAX_ADDRESSES);
        // The addresses without room share one window, and are throttled together.
        for i in 0..MAX_FAILURES {
            throttle.failed(IpAddr::from((u32::MAX - i).to_be_bytes()));
        }
        assert!(throttle.check(IpAddr::from((u32::MAX - 100).to_be_bytes())).is_err());
    }
}
