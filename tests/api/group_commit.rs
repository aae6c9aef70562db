//! Group commit: concurrent deliveries written in one transaction each batch, with every request still getting
//! its own right answer, and a failed batch failing only with retryable 5xx.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::future::join_all;
use rtk_sessions::{DeliveryBody, DeliveryId, classify};
use rtk_sessions::{FollowupKind, JobSpec, JobSpecs, Trigger};
use rtk_sessions::{Outcome, VerifiedDelivery, record_deliveries, record_delivery};
use rtk_sessions::{SignedDelivery, sample_body};
use serde_json::{Value, json};

use crate::helpers::{TestApp, realtimekit_signer, spawn_app_with, status_and_json};

fn verified(delivery_id: &str, body: Value) -> VerifiedDelivery {
    let raw = DeliveryBody::new(Bytes::from(serde_json::to_vec(&body).expect("json")));
    VerifiedDelivery {
        delivery_id: DeliveryId::from_header_or_body(Some(delivery_id), &raw),
        webhook_id: None,
        app_id: None,
        classified: classify(Some(&body)),
        body: raw,
    }
}

fn ended(session: &str) -> Value {
    json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": session, "endedAt": "2026-06-03T10:30:00Z"}})
}

/// Deliveries whose answers exercise every rule, with the outcome each must get.
fn mixed_batch() -> Vec<(VerifiedDelivery, Outcome)> {
    vec![
        (verified("a", ended("x")), Outcome::Stored),
        (verified("a", ended("x")), Outcome::Duplicate), // a retry within the batch
        (verified("b", ended("x")), Outcome::Duplicate), // the same bytes under another rtk-uuid
        (verified("c", json!({"event": "meeting.notYetKnown"})), Outcome::Ignored),
        (verified("d", json!({"event": "meeting.ended"})), Outcome::Unprocessable),
        (verified("old", ended("y")), Outcome::Duplicate), // recorded before the batch
        (verified("e", ended("z")), Outcome::Duplicate),   // session z recorded before the batch
        (verified("f", ended("w")), Outcome::Stored),
        // A peer's join and leave in one batch: both stored, merged into one attendance entry.
        (verified("g", participant("x", None)), Outcome::Stored),
        (
            verified("h", participant("x", Some("2026-06-03T10:20:00Z"))),
            Outcome::Stored,
        ),
        // A start, and a livestream update with its retry and its bytes under another rtk-uuid: one row each.
        (verified("i", started("v")), Outcome::Stored),
        (verified("j", livestream("v")), Outcome::Stored),
        (verified("j", livestream("v")), Outcome::Duplicate),
        (verified("k", livestream("v")), Outcome::Duplicate),
        // Artifact announcements: of a session recorded in the same batch, its retry, and of one recorded before.
        (verified("l", transcript("w")), Outcome::Stored),
        (verified("l", transcript("w")), Outcome::Duplicate),
        (verified("m", transcript("y")), Outcome::Stored),
        // Two statuses of one recording, the later first: the earlier one, applied after it, says nothing new.
        (verified("n", recording("w", "UPLOADED")), Outcome::Stored),
        (verified("o", recording("w", "RECORDING")), Outcome::Duplicate),
    ]
}

/// A status of session `session`'s one composite recording.
fn recording(session: &str, status: &str) -> Value {
    json!({"event": "recording.statusUpdate", "meeting": {"id": "m", "sessionId": session},
           "recording": {"id": "rec-1", "recordingId": "rec-1", "status": status, "roomUUID": session,
                         "downloadUrl": (status == "UPLOADED").then_some("https://files.example.com/rec-1.mp4"),
                         "downloadUrlExpiry": "2099-01-01T00:00:00Z", "outputFileName": "rec-1.mp4"}})
}

/// An artifact announcement of `session`, `event` naming its file's URL in `url_field`.
fn announcement(event: &str, url_field: &str, session: &str) -> Value {
    let mut body: Value = serde_json::from_slice(&sample_body(event)).expect("json");
    body["meeting"]["sessionId"] = json!(session);
    body[url_field] = json!(format!("https://files.example.com/{session}/{event}"));
    body
}

fn transcript(session: &str) -> Value {
    announcement("meeting.transcript", "transcriptDownloadUrl", session)
}

fn started(session: &str) -> Value {
    json!({"event": "meeting.started", "meeting": {"id": "m", "sessionId": session, "startedAt": "2026-06-03T10:00:00Z"}})
}

fn livestream(session: &str) -> Value {
    json!({"event": "livestreaming.statusUpdate", "meeting": {"id": "m", "sessionId": session},
           "streamId": "stream-1", "status": "LIVE", "playbackUrl": "https://example.com/x.m3u8"})
}

fn participant(session: &str, left_at: Option<&str>) -> Value {
    let event = if left_at.is_some() {
        "meeting.participantLeft"
    } else {
        "meeting.participantJoined"
    };
    json!({"event": event, "meeting": {"id": "m", "sessionId": session},
           "participant": {"peerId": "peer-1", "userDisplayName": "Ann", "joinedAt": "2026-06-03T10:01:00Z",
                           "leftAt": left_at}})
}

async fn record_beforehand(app: &TestApp, jobs: &JobSpecs) {
    for delivery in [verified("old", ended("y")), verified("earlier", ended("z"))] {
        record_delivery(&app.db, &delivery, jobs, 1000).await.expect("recorded");
    }
}

fn jobs() -> JobSpecs {
    let notify = JobSpec {
        name: "notify".into(),
        kind: FollowupKind::Webhook,
        trigger: Trigger::SessionEnded,
        apps: None,
        min_duration_secs: 0,
    };
    JobSpecs::new(vec![notify], 3)
}

#[tokio::test]
async fn one_batch_gives_each_delivery_the_outcome_it_would_get_on_its_own() {
    let batched = spawn_app_with(|s| s.worker.enabled = false).await;
    let single = spawn_app_with(|s| s.worker.enabled = false).await;
    let jobs = jobs();
    record_beforehand(&batched, &jobs).await;
    record_beforehand(&single, &jobs).await;
    let (deliveries, expected): (Vec<VerifiedDelivery>, Vec<Outcome>) = mixed_batch().into_iter().unzip();

    let mut connection = batched.db.acquire().await.expect("a connection");
    let in_one_batch = record_deliveries(&mut connection, &deliveries, &jobs)
        .await
        .expect("batch");
    let mut one_by_one = Vec::new();
    for delivery in &deliveries {
        one_by_one.push(
            record_delivery(&single.db, delivery, &jobs, 1000)
                .await
                .expect("single"),
        );
    }

    assert_eq!(in_one_batch, expected);
    assert_eq!(one_by_one, expected);
    for app in [&batched, &single] {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT delivery_id, status FROM deliveries ORDER BY delivery_id")
                .fetch_all(&app.db)
                .await
                .expect("rows");
        let statuses: Vec<(&str, &str)> = rows.iter().map(|(d, s)| (d.as_str(), s.as_str())).collect();
        assert_eq!(
            statuses,
            [
                ("a", "stored"),
                ("c", "ignored"),
                ("d", "unprocessable"),
                ("earlier", "stored"),
                ("f", "stored"),
                ("g", "stored"),
                ("h", "stored"),
                ("i", "stored"),
                ("j", "stored"),
                ("l", "stored"),
                ("m", "stored"),
                ("n", "stored"),
                ("o", "duplicate"),
                ("old", "stored")
            ],
            "b and e repeat bytes already recorded (under a and earlier): answered, not kept twice"
        );
        assert_eq!(app.count("sessions").await, 4, "x, y, z, w");
        let attendance: Vec<(String, bool, bool)> = sqlx::query_as(
            "SELECT peer_id, joined_at IS NOT NULL, left_at IS NOT NULL FROM attendance WHERE session_id = 'x'",
        )
        .fetch_all(&app.db)
        .await
        .expect("attendance");
        assert_eq!(attendance.len(), 1, "one entry for the peer");
        assert!(attendance[0].1 && attendance[0].2, "both merged: {attendance:?}");
        assert_eq!(app.count("live_sessions").await, 1, "v is live");
        assert_eq!(
            app.count("livestream_updates").await,
            1,
            "one transition, whatever its repeats"
        );
        assert_eq!(
            app.count("followup_jobs").await,
            4,
            "one job per new session, none for duplicates"
        );
        let with_transcript: Vec<String> =
            sqlx::query_scalar("SELECT session_id FROM sessions WHERE has_transcript ORDER BY session_id")
                .fetch_all(&app.db)
                .await
                .expect("flags");
        assert_eq!(
            with_transcript,
            ["w", "y"],
            "each announced session is flagged, whichever came first"
        );
        assert_eq!(
            app.count("artifacts").await,
            3,
            "one transcript each, and the recording's file"
        );
        let recording: (String, String) =
            sqlx::query_as("SELECT status, state FROM artifacts WHERE kind = 'recording' AND session_id = 'w'")
                .fetch_one(&app.db)
                .await
                .expect("the recording");
        assert_eq!(
            recording,
            ("UPLOADED".into(), "announced".into()),
            "the later status kept"
        );
    }
}

#[tokio::test]
async fn sessions_and_their_artifacts_arriving_together_in_concurrent_batches_are_all_recorded_and_flagged() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(8).expect("above 0");
        s.ingest.batch_window_micros = 2000;
    })
    .await;
    // 30 sessions, each with its end, a transcript and a summary, all at once: the batches mix sessions and
    // announcements of each other's sessions, and take their locks in one order.
    let mut burst = Vec::new();
    for n in 0..30 {
        let session = format!("together-{n:02}");
        let summary = announcement("meeting.summary", "summaryDownloadUrl", &session);
        for body in [transcript(&session), summary, ended(&session)] {
            let bytes = serde_json::to_vec(&body).expect("json");
            burst.push(SignedDelivery::new(realtimekit_signer(), bytes));
        }
    }

    let answers = join_all(
        burst
            .iter()
            .map(|d| async { status_and_json(app.deliver(d).await).await }),
    )
    .await;

    assert!(
        answers
            .iter()
            .all(|(status, ack)| *status == 200 && ack["outcome"] == "stored"),
        "{answers:?}"
    );
    let flagged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM sessions WHERE has_transcript AND has_summary AND session_id LIKE 'together-%'",
    )
    .fetch_one(&app.db)
    .await
    .expect("flags");
    assert_eq!(
        flagged, 30,
        "every session has both its artifacts, whichever was written first"
    );
    assert_eq!(app.count("artifacts").await, 60);
    assert_eq!(app.count("deliveries").await, 90);
}

#[tokio::test]
async fn a_burst_with_duplicates_of_each_other_gets_every_answer_right_and_one_session_each() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(16).expect("above 0");
        s.ingest.batch_window_micros = 2000;
    })
    .await;
    // 40 sessions; each delivered 3 times: twice under one rtk-uuid (a retry) and once under another.
    let mut burst: Vec<(String, SignedDelivery)> = Vec::new();
    for _ in 0..40 {
        let original = SignedDelivery::new(realtimekit_signer(), sample_body("meeting.ended"));
        let mut retry = SignedDelivery::new(realtimekit_signer(), original.body.clone());
        retry.delivery_id = original.delivery_id.clone();
        let other = SignedDelivery::new(realtimekit_signer(), original.body.clone());
        let session: Value = serde_json::from_slice(&original.body).expect("json");
        let session_id = session["meeting"]["sessionId"].as_str().expect("id").to_owned();
        for delivery in [original, retry, other] {
            burst.push((session_id.clone(), delivery));
        }
    }
    burst.push((
        "-".into(),
        SignedDelivery::new(realtimekit_signer(), sample_body("meeting.notYetKnown")),
    ));

    let answers = join_all(
        burst
            .iter()
            .map(|(_, d)| async { status_and_json(app.deliver(d).await).await }),
    )
    .await;

    assert!(answers.iter().all(|(status, _)| *status == 200), "{answers:?}");
    let mut stored_per_session: HashMap<&str, usize> = HashMap::new();
    for ((session_id, _), (_, ack)) in burst.iter().zip(&answers) {
        match ack["outcome"].as_str() {
            Some("stored") => *stored_per_session.entry(session_id).or_default() += 1,
            Some("duplicate") | Some("ignored") => {}
            other => panic!("unexpected outcome {other:?}"),
        }
    }
    assert_eq!(stored_per_session.len(), 40);
    assert!(
        stored_per_session.values().all(|n| *n == 1),
        "exactly one stored answer per session"
    );
    assert_eq!(app.count("sessions").await, 40);
    assert_eq!(app.count("deliveries").await, 41, "one row per distinct body");
}

#[tokio::test]
async fn when_the_database_fails_mid_batch_the_whole_batch_gets_a_retryable_503_and_nothing_of_it_is_kept() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(64).expect("above 0");
        s.ingest.batch_window_micros = 20_000;
        s.ingest.writers = std::num::NonZero::new(1).expect("above 0");
    })
    .await;
    // A session insert that fails, as a database failing mid-statement would.
    sqlx::raw_sql(
        "CREATE FUNCTION fail_on_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN IF NEW.session_id = 'poison' THEN RAISE EXCEPTION 'simulated failure' USING ERRCODE = '57P01'; END IF;
         RETURN NEW; END $$;
         CREATE TRIGGER fail_on_poison BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION fail_on_poison();",
    )
    .execute(&app.db)
    .await
    .expect("trigger");
    let mut burst: Vec<SignedDelivery> = (0..30).map(|_| app.meeting_ended()).collect();
    burst.push(app.signed(serde_json::to_vec(&ended("poison")).expect("json")));

    let statuses: Vec<(u16, bool)> = join_all(burst.iter().map(|d| async {
        let response = app.deliver(d).await;
        (
            response.status().as_u16(),
            response.headers().contains_key("retry-after"),
        )
    }))
    .await;

    assert!(
        statuses.iter().all(|(status, _)| *status == 200 || *status == 503),
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .filter(|(s, _)| *s == 503)
            .all(|(_, retry_after)| *retry_after)
    );
    assert_eq!(statuses.last().map(|s| s.0), Some(503), "the poisoned delivery fails");
    let failed = statuses.iter().filter(|(s, _)| *s == 503).count();
    assert!(failed > 1, "its batch fails with it: {failed} answers were 503");
    for (delivery, (status, _)) in burst.iter().zip(&statuses) {
        let kept = app.delivery_status(&delivery.delivery_id).await.is_some();
        assert_eq!(
            kept,
            *status == 200,
            "kept exactly when acknowledged ({})",
            delivery.delivery_id
        );
    }

    // The failure passes; RealtimeKit retries everything that got a 503, and nothing is lost.
    sqlx::raw_sql("DROP TRIGGER fail_on_poison ON sessions")
        .execute(&app.db)
        .await
        .expect("drop");
    for (delivery, (status, _)) in burst.iter().zip(&statuses) {
        if *status == 503 {
            assert_eq!(app.deliver(delivery).await.status(), 200);
        }
    }
    assert_eq!(app.count("sessions").await, 31);
    assert_eq!(app.count("deliveries").await, 31);
}

#[tokio::test]
async fn while_one_batch_waits_in_the_database_the_next_one_gathers_what_arrives_instead_of_writing_it_in_bits() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(64).expect("above 0");
        s.ingest.batch_window_micros = 0;
        s.ingest.writers = std::num::NonZero::new(2).expect("above 0");
    })
    .await;
    let send = |delivery: SignedDelivery| {
        let request = delivery.request(&app.http, &app.webhook_url());
        tokio::spawn(async move { request.send().await.map(|r| r.status().as_u16()) })
    };
    // A batch held in the database: its session's lock is taken (as an artifact's writer takes it).
    let mut holder = app.db.begin().await.expect("begin");
    sqlx::query("SELECT pg_advisory_xact_lock(4242, hashtext('held'))")
        .execute(&mut *holder)
        .await
        .expect("lock");
    let held = send(app.signed(serde_json::to_vec(&ended("held")).expect("json")));
    // Waiting in this test's database (pg_locks shows every database of the server).
    let mut batch_waits = false;
    for _ in 0..500 {
        batch_waits = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                              AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))",
        )
        .fetch_one(&app.db)
        .await
        .expect("locks");
        if batch_waits {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(batch_waits, "the first batch waits for its session's lock");

    // Ten more arrive meanwhile: the other writer gathers them while that batch is in the database, and a batch
    // written beside it would have answered them within milliseconds.
    let others: Vec<SignedDelivery> = (0..10).map(|_| app.meeting_ended()).collect();
    let ids: Vec<String> = others.iter().map(|d| d.delivery_id.clone()).collect();
    let answers: Vec<_> = others.into_iter().map(send).collect();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert!(
        answers.iter().all(|answer| !answer.is_finished()),
        "nothing is written beside a batch that is not full"
    );

    holder.commit().await.expect("release");
    assert_eq!(held.await.expect("task").expect("answer"), 200);
    for answer in answers {
        assert_eq!(answer.await.expect("task").expect("answer"), 200);
    }
    let transactions: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT xmin::text) FROM deliveries WHERE delivery_id = ANY($1)")
            .bind(&ids)
            .fetch_one(&app.db)
            .await
            .expect("count");
    assert_eq!(
        transactions, 1,
        "the ten are written in one batch, once the first is done"
    );
}

#[tokio::test]
async fn a_writer_whose_kept_connection_was_closed_while_quiet_replaces_it_before_its_next_batch() {
    let app = spawn_app_with(|s| {
        s.ingest.batch_max = std::num::NonZero::new(16).expect("above 0");
        s.ingest.batch_window_micros = 2000;
    })
    .await;
    let burst = |app: &TestApp| (0..20).map(|_| app.meeting_ended()).collect::<Vec<_>>();
    let deliver_all = |deliveries: Vec<SignedDelivery>| {
        let app = &app;
        async move {
            join_all(
                deliveries
                    .iter()
                    .map(|d| async { app.deliver(d).await.status().as_u16() }),
            )
            .await
        }
    };
    assert!(
        deliver_all(burst(&app)).await.iter().all(|s| *s == 200),
        "the writers now keep their connections"
    );

    // Postgres closes every connection of the service (a restart, a failover, an administrator), while no
    // delivery arrives.
    let closed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND application_name = 'rtk-sessions' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&app.db)
    .await
    .expect("terminate");
    assert!(!closed.is_empty(), "the service had connections open");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let answers = deliver_all(burst(&app)).await;
    assert!(
        answers.iter().all(|s| *s == 200),
        "no batch is written on a closed connection: {answers:?}"
    );
    assert_eq!(app.count("sessions").await, 40);
}
