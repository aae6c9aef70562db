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

/// Signed bodies built to trip Postgres: numbers `jsonb` cannot hold, NUL escapes, lone surrogates, deep nesting,
/// very long strings, in every field. Each is answered 200 and can be found afterwards.
#[test]
fn signed_bodies_built_to_trip_postgres_are_all_recorded() {
    let runtime = runtime();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 120,
        ..Config::default()
    });
    let value = prop_oneof![
        Just("1e-20000".to_owned()),
        Just("1e20000".to_owned()),
        Just("-1e-400".to_owned()),
        Just("123456789012345678901234567890e131071".to_owned()),
        Just(r#""\u0000""#.to_owned()),
        Just(r#""a\ud800b""#.to_owned()),
        Just(r#""\udfff""#.to_owned()),
        (1usize..300).prop_map(|depth| format!("{}1{}", "[".repeat(depth), "]".repeat(depth))),
        (1usize..200_000).prop_map(|n| format!("\"{}\"", "x".repeat(n))),
        ".{0,20}".prop_map(|s| serde_json::to_string(&s).expect("json")),
    ];
    let field = prop_oneof![
        Just("sessionId"),
        Just("id"),
        Just("title"),
        Just("endedAt"),
        Just("roomName"),
        Just("extra")
    ];
    let found = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&(value, field, any::<bool>()), |(value, field, top_level)| {
            let session = uuid::Uuid::new_v4();
            let mut meeting = format!(r#""id":"m","sessionId":"{session}","endedAt":"2026-06-03T10:30:00Z""#);
            meeting = meeting.replace(&format!(r#""{field}":"#), &format!(r#""was_{field}":"#));
            let body = if top_level {
                format!(r#"{{"event":"meeting.ended","{field}":{value},"meeting":{{{meeting}}}}}"#)
            } else {
                format!(r#"{{"event":"meeting.ended","meeting":{{{meeting},"{field}":{value}}}}}"#)
            };
            let delivery = app.signed(body.into_bytes());
            let status = runtime.block_on(app.deliver(&delivery)).status();
            prop_assert_eq!(status.as_u16(), 200);
            let shown = runtime.block_on(app.get_authorized(&format!("/deliveries/{}", delivery.delivery_id)));
            prop_assert_eq!(shown.status().as_u16(), 200);
            found.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        })
        .expect("every case holds");
    assert!(found.into_inner() > 0);
}

/// Query strings a stranger might send, on every reading endpoint: never a 5xx.
#[test]
fn arbitrary_query_values_never_cause_a_5xx() {
    let runtime = runtime();
    let app = runtime.block_on(spawn_app());
    let mut runner = TestRunner::new(Config {
        cases: 200,
        ..Config::default()
    });
    let endpoint = prop_oneof![
        Just("/sessions?meeting_id="),
        Just("/sessions?organization_id="),
        Just("/sessions?reason="),
        Just("/sessions?ended_after="),
        Just("/sessions?ended_before="),
        Just("/sessions?cursor="),
        Just("/sessions/"),
        Just("/followups?session_id="),
        Just("/followups?cursor="),
        Just("/deliveries?session_id="),
        Just("/deliveries?received_after="),
        Just("/deliveries?cursor="),
        Just("/deliveries/"),
    ];
    let value = prop_oneof![
        vec(any::<u8>(), 0..80),
        Just(b"\0".to_vec()),
        Just(b"9999-12-31T23:59:59-23:59".to_vec()),
        Just(b"0000-01-01T00:00:00+23:59".to_vec()),
        "[A-Za-z0-9_-]{0,60}".prop_map(String::into_bytes),
    ];
    runner
        .run(&(endpoint, value), |(endpoint, value)| {
            let encoded: String = value.iter().map(|b| format!("%{b:02X}")).collect();
            let status = runtime
                .block_on(app.get_authorized(&format!("{endpoint}{encoded}")))
                .status();
            prop_assert!(status.as_u16() < 500, "{endpoint}{encoded}: {status}");
            Ok(())
        })
        .expect("every case holds");
}
