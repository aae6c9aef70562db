//! Verified bodies the database would refuse are still recorded, one delivery never fails its batch, the same bytes
//! under a fresh `rtk-uuid` are a duplicate, and operators list, read and replay deliveries.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{API_TOKEN, TestApp, spawn_app, spawn_app_with, status_and_json};

fn ended_with(extra: &str) -> Vec<u8> {
    format!(
        r#"{{"event":"meeting.ended","meeting":{{"id":"m-1","sessionId":"{}","endedAt":"2026-06-03T10:30:00Z"}}{extra}}}"#,
        uuid::Uuid::new_v4()
    )
    .into_bytes()
}

async fn ack(app: &TestApp, body: Vec<u8>) -> (u16, Value, String) {
    let delivery = app.signed(body);
    let (status, ack) = status_and_json(app.deliver(&delivery).await).await;
    (status, ack, delivery.delivery_id)
}

#[tokio::test]
async fn a_signed_body_the_database_refuses_is_kept_as_unprocessable_and_its_batch_mates_are_stored() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(64).expect("above 0");
        s.ingest.batch_window_micros = 20_000;
    })
    .await;
    // Whatever the parser accepts, the database may still refuse a row (a constraint of the operator's own, say):
    // here a trigger refuses one meeting's session.
    sqlx::query(
        "CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.meeting_id = 'refused' THEN
                 RAISE EXCEPTION 'this meeting is refused' USING ERRCODE = '22023';
             END IF;
             RETURN NEW;
         END $$",
    )
    .execute(&app.db)
    .await
    .expect("function");
    sqlx::query("CREATE TRIGGER refuse_one BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_one()")
        .execute(&app.db)
        .await
        .expect("trigger");
    let refused = String::from_utf8(ended_with(""))
        .expect("text")
        .replace("\"m-1\"", "\"refused\"");
    let mut bodies = vec![refused.into_bytes()];
    bodies.extend((0..15).map(|_| ended_with("")));
    // Bodies are kept as bytes, so a number jsonb could not hold is no trouble at all.
    bodies.push(ended_with(r#","n":1e-20000"#));

    let answers = join_all(bodies.into_iter().map(|body| ack(&app, body))).await;

    assert!(answers.iter().all(|(status, _, _)| *status == 200), "{answers:?}");
    assert_eq!(answers[0].1["outcome"], "unprocessable");
    assert!(
        answers[1..].iter().all(|(_, a, _)| a["outcome"] == "stored"),
        "{answers:?}"
    );
    let (status, detail) = status_and_json(app.get_authorized(&format!("/deliveries/{}", answers[0].2)).await).await;
    assert_eq!(status, 200);
    assert!(
        detail["reason"]
            .as_str()
            .is_some_and(|r| r.contains("this meeting is refused")),
        "{detail}"
    );
    assert_eq!(detail["body_kept_as"], "bytes");
    assert!(detail["body_text"].as_str().is_some_and(|t| t.contains("refused")));
    let (_, exotic, exotic_id) = answers.last().expect("answers");
    assert_eq!(exotic["outcome"], "stored");
    let raw = app.get_authorized(&format!("/deliveries/{exotic_id}?raw=true")).await;
    assert!(raw.text().await.expect("text").contains("1e-20000"), "kept exactly");
}

#[tokio::test]
async fn ids_and_texts_over_their_documented_length_are_unprocessable_not_a_5xx() {
    let app = spawn_app().await;
    let long = "x".repeat(3000);
    for body in [
        json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": long, "endedAt": "2026-06-03T10:30:00Z"}}),
        json!({"event": "meeting.ended", "reason": long, "meeting": {"id": "m", "sessionId": "s1", "endedAt": "2026-06-03T10:30:00Z"}}),
        json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": "s2", "organizedBy": {"id": long},
               "endedAt": "2026-06-03T10:30:00Z"}}),
        json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": "s3", "title": "t".repeat(5000),
               "endedAt": "2026-06-03T10:30:00Z"}}),
        json!({"event": long}),
    ] {
        let (status, ack, _) = ack(&app, serde_json::to_vec(&body).expect("json")).await;
        assert_eq!(
            (status, ack["outcome"].as_str()),
            (200, Some("unprocessable")),
            "{body}"
        );
    }
    assert_eq!(app.count("sessions").await, 0);
}

#[tokio::test]
async fn the_same_bytes_under_a_fresh_rtk_uuid_are_a_duplicate_whatever_the_event() {
    let app = spawn_app().await;
    for body in [
        ended_with(""),
        br#"{"event":"meeting.started"}"#.to_vec(),
        b"not json".to_vec(),
    ] {
        let first = app.signed(body.clone());
        let (_, first_ack) = status_and_json(app.deliver(&first).await).await;
        assert_ne!(first_ack["outcome"], "duplicate");
        let replayed = app.signed(body);
        assert_ne!(replayed.delivery_id, first.delivery_id);
        let (status, ack) = status_and_json(app.deliver(&replayed).await).await;
        assert_eq!((status, ack["outcome"].as_str()), (200, Some("duplicate")));
        assert_eq!(app.delivery_status(&replayed.delivery_id).await, None, "not kept twice");
        // The answer names the delivery the bytes are kept under, which the API shows.
        assert_eq!(ack["kept_as"], first.delivery_id.as_str(), "{ack}");
        let shown = app.get_authorized(&format!("/deliveries/{}", first.delivery_id)).await;
        assert_eq!(shown.status(), 200);
        // A retry under the same rtk-uuid is kept under its own id: nothing more to say.
        let (_, retry_ack) = status_and_json(app.deliver(&first).await).await;
        assert_eq!(retry_ack["outcome"], "duplicate");
        assert!(retry_ack.get("kept_as").is_none(), "{retry_ack}");
    }
    assert_eq!(app.count("deliveries").await, 3);
}

#[tokio::test]
async fn operators_list_deliveries_by_outcome_and_session_page_by_page() {
    let app = spawn_app().await;
    let mut sessions = Vec::new();
    for _ in 0..5 {
        let delivery = app.meeting_ended();
        let (_, ack) = status_and_json(app.deliver(&delivery).await).await;
        sessions.push(ack["session_id"].as_str().expect("session").to_owned());
    }
    for i in 0..3 {
        let (_, ack, _) = ack(&app, format!("garbage {i}").into_bytes()).await;
        assert_eq!(ack["outcome"], "unprocessable");
    }

    let (status, page) = status_and_json(app.get_authorized("/deliveries?outcome=unprocessable&limit=2").await).await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(2));
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, rest) = status_and_json(
        app.get_authorized(&format!("/deliveries?outcome=unprocessable&limit=2&cursor={cursor}"))
            .await,
    )
    .await;
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());

    let (_, by_session) = status_and_json(
        app.get_authorized(&format!("/deliveries?session_id={}", sessions[2]))
            .await,
    )
    .await;
    let data = by_session["data"].as_array().expect("data");
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["outcome"], "stored");
    assert_eq!(data[0]["event"], "meeting.ended");

    let (_, all) = status_and_json(app.get_authorized("/deliveries").await).await;
    assert_eq!(all["data"].as_array().map(Vec::len), Some(8));

    for bad in [
        "outcome=lost",
        "received_after=yesterday",
        "session_id=%00",
        "limit=0",
        "cursor=zzz",
        "x=1",
    ] {
        let (status, error) = status_and_json(app.get_authorized(&format!("/deliveries?{bad}")).await).await;
        assert_eq!(status, 400, "{bad}: {error}");
        assert!(error["error"]["code"].is_string());
    }
}

#[tokio::test]
async fn raw_answers_the_exact_bytes_of_an_unprocessable_delivery() {
    let app = spawn_app().await;
    let body = b"\xff\x00 binary \r\n {not json".to_vec();
    let (_, ack, delivery_id) = ack(&app, body.clone()).await;
    assert_eq!(ack["outcome"], "unprocessable");

    let response = app.get_authorized(&format!("/deliveries/{delivery_id}?raw=true")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("application/octet-stream")
    );
    assert_eq!(response.bytes().await.expect("bytes").to_vec(), body);

    let (status, _) = status_and_json(app.get_authorized("/deliveries/nobody").await).await;
    assert_eq!(status, 404);
    let unauthenticated = app
        .http
        .get(format!("{}/deliveries", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(unauthenticated.status(), 401);
}

#[tokio::test]
async fn a_replay_records_the_session_of_a_delivery_a_fixed_parser_can_now_read_once() {
    let app = spawn_app_with(|s| {
        s.followups = vec![
            serde_json::from_value(json!({"kind": "webhook", "url": "http://127.0.0.1:9/h",
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
            .expect("entry"),
        ];
        s.worker.enabled = false;
    })
    .await;
    // What an older parser refused: a usable meeting.ended kept as unprocessable, byte for byte.
    let body = ended_with("");
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, status, error, raw_body)
         VALUES ('old-1', 'meeting.ended', 'unprocessable', 'an older parser refused it', $1)",
    )
    .bind(&body)
    .execute(&app.db)
    .await
    .expect("insert");

    let replay = || async {
        status_and_json(
            app.http
                .post(format!("{}/deliveries/old-1/replay", app.address))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("answers"),
        )
        .await
    };
    let (status, replayed) = replay().await;
    assert_eq!(status, 200, "{replayed}");
    assert_eq!(replayed["previous_outcome"], "unprocessable");
    assert_eq!(replayed["outcome"], "stored");
    let session_id = replayed["session_id"].as_str().expect("session").to_owned();
    assert_eq!(app.get_session(&session_id).await.status(), 200);
    assert_eq!(app.count("followup_jobs").await, 1);

    let (status, again) = replay().await;
    assert_eq!((status, again["outcome"].as_str()), (200, Some("stored")));
    assert_eq!(app.count("sessions").await, 1, "a replay records nothing twice");
    assert_eq!(app.count("followup_jobs").await, 1);

    let (status, garbage) = {
        let (_, _, id) = ack(&app, b"still garbage".to_vec()).await;
        status_and_json(
            app.http
                .post(format!("{}/deliveries/{id}/replay", app.address))
                .bearer_auth(API_TOKEN)
                .send()
                .await
                .expect("answers"),
        )
        .await
    };
    assert_eq!((status, garbage["outcome"].as_str()), (200, Some("unprocessable")));
    assert!(garbage["reason"].as_str().is_some_and(|r| r.contains("not JSON")));
}

#[tokio::test]
async fn nul_bytes_and_out_of_range_values_are_a_400_on_every_endpoint() {
    let app = spawn_app().await;
    let out_of_range_cursor = {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("v1:-9000000000000000000:x")
    };
    for path in [
        "/sessions?meeting_id=%00".to_owned(),
        "/sessions?organization_id=a%00b".to_owned(),
        "/sessions?reason=%00".to_owned(),
        format!("/sessions?cursor={out_of_range_cursor}"),
        "/sessions/%00".to_owned(),
        "/sessions/%00/report".to_owned(),
        format!("/sessions/{}", "x".repeat(300)),
        "/followups?session_id=%00".to_owned(),
        "/deliveries/%00".to_owned(),
        format!("/deliveries?cursor={out_of_range_cursor}"),
    ] {
        let (status, error) = status_and_json(app.get_authorized(&path).await).await;
        assert_eq!(status, 400, "{path}: {error}");
        assert!(error["error"]["message"].is_string(), "{path}: {error}");
    }
    let response = app
        .http
        .post(format!("{}/meetings/%00/end", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn the_public_readiness_answer_carries_codes_and_no_error_text() {
    let app = spawn_app_with(|s| {
        s.realtimekit.public_key_pem.clear();
        s.realtimekit.public_key_url = "http://127.0.0.1:9/secret-account/key".into();
    })
    .await;
    let public = |token: Option<&str>| {
        let mut request = app.http.get(format!("{}/readyz", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move { status_and_json(request.send().await.expect("answers")).await }
    };
    let (status, body) = public(None).await;
    assert_eq!(status, 503);
    assert_eq!(body["checks"]["verification_key"]["status"], "failing");
    assert_eq!(body["checks"]["verification_key"]["reason"], "not_loaded");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    let text = body.to_string();
    assert!(!text.contains("secret-account") && !text.contains("detail"), "{text}");

    let (_, wrong) = public(Some("not-the-token")).await;
    assert!(!wrong.to_string().contains("detail"));
    let (_, operator) = public(Some(API_TOKEN)).await;
    assert!(
        operator["checks"]["verification_key"]["detail"].is_string(),
        "{operator}"
    );
}
