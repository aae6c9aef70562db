//! Deliveries: the bodies of each mix, pre-signed before the clock starts, and the load that drives them over HTTP.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rtk_sessions::WebhookSigner;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::service::rss_mib;

/// How many meetings the sessions of a run belong to unless `--meetings` says otherwise: as in the seeded history,
/// a meeting (a room) hosts session after session under one id and title.
pub(crate) const MEETINGS: usize = 20_000;

/// A `meeting.ended` of about 1 KB with fresh session ids, like the reference payload: session `i` of meeting
/// `i % meetings`, or of a meeting of its own when `meetings` is 0.
pub(crate) fn body(i: usize, meetings: usize) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body("meeting.ended")).expect("json");
    let meeting = match meetings {
        0 => i,
        n => {
            value["meeting"]["id"] = json!(format!("bench-meeting-{}", i % n));
            i % n
        }
    };
    value["meeting"]["title"] = json!(format!(
        "Weekly engineering sync - platform and infrastructure #{meeting}"
    ));
    value["client"] = json!({"sdk": "web-core", "sdkVersion": "2.4.1", "os": "macOS 15.1", "browser": "Chrome 131.0"});
    value["meta"] = json!({"note": "x".repeat(560)});
    serde_json::to_vec(&value).expect("json")
}

/// Which deliveries the ingest benchmark sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mix {
    Ended,
    Realistic,
}

/// Delivery `i` of a mix. In the realistic one, of every ten: eight participant events (each session 500 peers,
/// each joining then leaving), one `meeting.ended`, and one of the other events in turn.
pub(crate) fn mixed_body(i: usize, mix: Mix, meetings: usize) -> Vec<u8> {
    const OTHERS: [&str; 6] = [
        "recording.statusUpdate",
        "meeting.transcript",
        "meeting.summary",
        "meeting.chatSynced",
        "livestreaming.statusUpdate",
        "meeting.started",
    ];
    let slot = i % 10;
    if mix == Mix::Ended || slot == 0 {
        return body(i, meetings);
    }
    if slot == 1 {
        let event = OTHERS[(i / 10) % OTHERS.len()];
        let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body(event)).expect("json");
        let url = format!("https://files.example.com/{i}?X-Amz-Expires=604800");
        match event {
            "recording.statusUpdate" => {
                value["recording"] = json!({"id": format!("rec-{i}"), "status": "RECORDING", "downloadUrl": null})
            }
            "meeting.transcript" => value["transcriptDownloadUrl"] = json!(url),
            "meeting.summary" => value["summaryDownloadUrl"] = json!(url),
            "meeting.chatSynced" => value["chatDownloadUrl"] = json!(url),
            "livestreaming.statusUpdate" => {
                value["streamId"] = json!(format!("stream-{i}"));
                value["status"] = json!("LIVE");
            }
            _ => {}
        }
        return serde_json::to_vec(&value).expect("json");
    }
    // Participant events: the k-th of the run, of session k / 1000, peer (k / 2) % 500, a join then its leave.
    let k = i / 10 * 8 + (slot - 2);
    let (event, leaving) = if k.is_multiple_of(2) {
        ("meeting.participantJoined", false)
    } else {
        ("meeting.participantLeft", true)
    };
    let mut value: Value = serde_json::from_slice(&rtk_sessions::sample_body(event)).expect("json");
    value["meeting"]["sessionId"] = json!(format!("bench-attended-{}", k / 1000));
    let mut participant = json!({
        "peerId": format!("peer-{}-{}", k / 1000, (k / 2) % 500),
        "userDisplayName": format!("Participant {}", (k / 2) % 500),
        "customParticipantId": format!("user-{}", (k / 2) % 500),
        "joinedAt": "2026-06-03T10:00:00.000Z"
    });
    if leaving {
        participant["leftAt"] = json!("2026-06-03T10:30:00.000Z");
    }
    value["participant"] = participant;
    serde_json::to_vec(&value).expect("json")
}

/// Attendance rows, how many have a join time and how many a leave time: what the acknowledged participant events
/// of the realistic mix must leave (see [`mixed_body`]; a leave carries its join time too).
pub(crate) fn expected_attendance(acked: &[usize]) -> (i64, i64, i64) {
    let mut left: std::collections::HashMap<(usize, usize), bool> = std::collections::HashMap::new();
    for &i in acked.iter().filter(|&&i| i % 10 >= 2) {
        let k = i / 10 * 8 + (i % 10 - 2);
        *left.entry((k / 1000, (k / 2) % 500)).or_default() |= !k.is_multiple_of(2);
    }
    let peers = left.len() as i64;
    (peers, peers, left.values().filter(|l| **l).count() as i64)
}

pub(crate) async fn recorded_attendance(db: &PgPool) -> anyhow::Result<(i64, i64, i64)> {
    Ok(
        sqlx::query_as("SELECT count(*), count(joined_at), count(left_at) FROM attendance")
            .fetch_one(db)
            .await?,
    )
}

pub(crate) struct Signed {
    pub(crate) body: Bytes,
    pub(crate) signature: String,
    pub(crate) delivery_id: String,
}

pub(crate) fn presign(signer: &WebhookSigner, count: usize, mix: Mix, meetings: usize) -> Vec<Signed> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per_thread = count.div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (t * per_thread..((t + 1) * per_thread).min(count))
                        .map(|i| {
                            let body = mixed_body(i, mix, meetings);
                            Signed {
                                signature: signer.sign(&body),
                                body: Bytes::from(body),
                                delivery_id: uuid::Uuid::new_v4().to_string(),
                            }
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("signing thread"))
            .collect()
    })
}

pub(crate) struct LoadResult {
    pub(crate) acked: Vec<usize>,
    pub(crate) non_2xx: usize,
    pub(crate) errors: usize,
    pub(crate) elapsed: Duration,
    pub(crate) latency: Histogram<u64>,
    pub(crate) peak_rss_mib: f64,
}

impl LoadResult {
    /// Nothing acknowledged yet; latencies up to a minute, to three significant digits.
    pub(crate) fn empty() -> Self {
        Self {
            acked: Vec::new(),
            non_2xx: 0,
            errors: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram"),
            peak_rss_mib: 0.0,
        }
    }

    pub(crate) fn rate(&self) -> f64 {
        self.acked.len() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Drives `POST /webhooks/realtimekit` with `concurrency` connections for `duration` (or until the deliveries run
/// out).
pub(crate) async fn drive(
    url: &str,
    deliveries: &Arc<Vec<Signed>>,
    concurrency: usize,
    duration: Duration,
    pid: u32,
) -> LoadResult {
    let authority = url.trim_start_matches("http://").to_owned();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let sampler = tokio::spawn(async move {
        let mut peak: f64 = 0.0;
        while Instant::now() < deadline {
            peak = peak.max(rss_mib(pid).0);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (authority, next, deliveries) = (authority.clone(), next.clone(), deliveries.clone());
            tokio::spawn(async move {
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let (mut acked, mut non_2xx, mut errors) = (Vec::new(), 0, 0);
                let mut connection = None;
                while Instant::now() < deadline {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(delivery) = deliveries.get(i) else { break };
                    let sent = Instant::now();
                    match post_delivery(&mut connection, &authority, delivery).await {
                        Ok(status) if status.is_success() => {
                            latency.saturating_record(sent.elapsed().as_micros() as u64);
                            acked.push(i);
                        }
                        Ok(_) => non_2xx += 1,
                        Err(_) => {
                            errors += 1;
                            connection = None;
                        }
                    }
                }
                (acked, non_2xx, errors, latency)
            })
        })
        .collect();
    let mut result = LoadResult::empty();
    for task in tasks {
        let (acked, non_2xx, errors, latency) = task.await.expect("load task");
        result.acked.extend(acked);
        result.non_2xx += non_2xx;
        result.errors += errors;
        result.latency.add(latency).expect("same bounds");
    }
    result.elapsed = started.elapsed();
    result.peak_rss_mib = sampler.await.unwrap_or(0.0);
    result
}

pub(crate) type ServiceConnection = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

/// Posts one delivery over this task's own keep-alive connection, opening it first when there is none. The load
/// generator shares the two cores with what it measures, so it does the least it can per request: hyper's
/// connection-level client, with no pool and no URL to parse.
pub(crate) async fn post_delivery(
    connection: &mut Option<ServiceConnection>,
    authority: &str,
    delivery: &Signed,
) -> anyhow::Result<hyper::StatusCode> {
    let sender = match connection {
        Some(sender) => sender,
        None => {
            let stream = tokio::net::TcpStream::connect(authority).await?;
            stream.set_nodelay(true)?;
            let (sender, driver) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(driver);
            connection.insert(sender)
        }
    };
    let request = hyper::Request::post(rtk_sessions::WEBHOOK_PATH)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("rtk-signature", delivery.signature.as_str())
        .header("rtk-uuid", delivery.delivery_id.as_str())
        .header("rtk-webhook-id", "bench")
        .body(Full::new(delivery.body.clone()))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    response.into_body().collect().await?;
    Ok(status)
}

pub(crate) fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}
