//! Property tests: arbitrary bodies and headers thrown at the receiver. No panic, no 5xx for bad input, nothing
//! stored unless the signature verifies; and any verified body, however strange, is kept.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::header::HeaderValue;

use crate::helpers::{TestApp, realtimekit_signer, spawn_app};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// A header value from arbitrary bytes, or `None` where HTTP could not carry it.
fn header(bytes: &Option<Vec<u8>>) -> Option<HeaderValue> {
    bytes.as_ref().and_then(|b| HeaderValue::from_bytes(b).ok())
}

async fn post(app: &TestApp, body: Vec<u8>, headers: &[(&str, Option<HeaderValue>)]) -> reqwest::StatusCode {
    let mut request = app.http.post(app.webhook_url()).body(body);
    for (name, value) in headers {
        if let Some(value) = value {
            request = request.header(*name, value.clone());
        }
    }
    request.send().await.expect("the receiver answers").status()
}

fn header_bytes() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        vec(any::<u8>(), 0..64).prop_map(Some),
        "[A-Za-z0-9+/=]{0,400}".prop_map(|s| Some(s.into_bytes())),
    ]
}

#[test]
fn unsigned_or_badly_signed_requests_get_a_4xx_and_nothing_is_stored() {
    let runtime = runtime();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 300,
        ..Config::default()
    });
    let strategy = (
        vec(any::<u8>(), 0..1500),
        header_bytes(),
        header_bytes(),
        header_bytes(),
    );
    runner
        .run(&strategy, |(body, signature, uuid, webhook_id)| {
            let status = runtime.block_on(post(
                &app,
                body,
                &[
                    ("rtk-signature", header(&signature)),
                    ("rtk-uuid", header(&uuid)),
                    ("rtk-webhook-id", header(&webhook_id)),
                ],
            ));
            prop_assert!(matches!(status.as_u16(), 400 | 401), "{status}");
            Ok(())
        })
        .expect("every case holds");
    assert_eq!(runtime.block_on(app.count("deliveries")), 0);
}

#[test]
fn any_verified_body_is_acknowledged_and_kept_whatever_it_contains() {
    let runtime = runtime();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let body = prop_oneof![
        vec(any::<u8>(), 0..1500),
        any::<String>().prop_map(String::into_bytes),
        // JSON-looking bodies that stress the parser and the classification.
        (".{0,40}", ".{0,40}", any::<i64>()).prop_map(|(event, id, n)| {
            serde_json::to_vec(
                &serde_json::json!({"event": event, "meeting": {"id": id, "sessionId": n, "endedAt": id}}),
            )
            .expect("json")
        }),
        (".{0,40}", ".{0,40}").prop_map(|(session, title)| {
            serde_json::to_vec(&serde_json::json!({
                "event": "meeting.ended",
                "meeting": {"id": "m", "sessionId": session, "title": title, "endedAt": "2026-06-03T10:30:00Z"}
            }))
            .expect("json")
        }),
    ];
    let sent = std::sync::atomic::AtomicI64::new(0);
    runner
        .run(&(body, header_bytes()), |(body, uuid)| {
            let signature = realtimekit_signer().sign(&body);
            let status = runtime.block_on(post(
                &app,
                body,
                &[
                    ("rtk-signature", HeaderValue::from_str(&signature).ok()),
                    ("rtk-uuid", header(&uuid)),
                ],
            ));
            prop_assert_eq!(status.as_u16(), 200);
            sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .expect("every case holds");
    let sent = sent.into_inner();
    let kept = runtime.block_on(app.count("deliveries"));
    assert!(
        kept > 0 && kept <= sent,
        "{kept} of {sent}: every distinct delivery kept once"
    );
    // Nothing verified was answered with an error, so nothing was lost: each request is a row, or a duplicate of one.
}
