//! `queries`: a million seeded sessions, `GET /sessions` pages and filters timed, and each one's plan.

use std::time::Instant;

use anyhow::Context;
use hdrhistogram::Histogram;
use rtk_sessions::{Cursor, ListFilter, explain_session_list};
use serde_json::Value;
use sqlx::PgPool;

use crate::deliveries::ms;
use crate::seed;
use crate::service::{Service, rss_mib, signer, start_service};
use crate::{Cli, TOKEN};

pub(crate) async fn queries(cli: &Cli, rows: i64, iterations: usize) -> anyhow::Result<()> {
    signer(cli)?;
    let service = start_service(cli, "rtk_bench_queries", &[]).await?;
    let db = PgPool::connect(&service.database_url).await?;
    println!("seeding {rows} sessions...");
    let seeding = Instant::now();
    seed::sessions(&db, rows).await?;
    println!("seeded in {:.1}s\n", seeding.elapsed().as_secs_f64());

    // A cursor 10,000 rows deep, found by walking the pages as a client would.
    let http = reqwest::Client::new();
    let get = |query: String| {
        let http = http.clone();
        let url = format!("{}/sessions{query}", service.url);
        async move {
            let response = http.get(url).bearer_auth(TOKEN).send().await?;
            anyhow::ensure!(response.status().is_success(), "{}", response.status());
            Ok::<Value, anyhow::Error>(response.json().await?)
        }
    };
    let mut cursor = String::new();
    for _ in 0..20 {
        let page = get(format!("?limit=500{cursor}")).await?;
        cursor = format!("&cursor={}", page["next_cursor"].as_str().context("a next page")?);
    }
    let deep_cursor = Cursor::decode(cursor.trim_start_matches("&cursor=")).context("cursor")?;
    let t = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.with_timezone(&chrono::Utc))
            .ok()
    };
    let cases: Vec<(&str, String, ListFilter, Option<Cursor>)> = vec![
        ("first page", "?limit=50".into(), ListFilter::default(), None),
        (
            "page 10,000 rows deep",
            format!("?limit=50{cursor}"),
            ListFilter::default(),
            Some(deep_cursor.clone()),
        ),
        (
            "meeting_id",
            "?limit=50&meeting_id=meeting-4242".into(),
            ListFilter {
                meeting_id: Some("meeting-4242".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "organization_id",
            "?limit=50&organization_id=org-42".into(),
            ListFilter {
                organization_id: Some("org-42".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "reason",
            "?limit=50&reason=ALL_PARTICIPANTS_LEFT".into(),
            ListFilter {
                reason: Some("ALL_PARTICIPANTS_LEFT".into()),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "ended_after + ended_before",
            "?limit=50&ended_after=2026-03-01T00:00:00Z&ended_before=2026-03-02T00:00:00Z".into(),
            ListFilter {
                ended_after: t("2026-03-01T00:00:00Z"),
                ended_before: t("2026-03-02T00:00:00Z"),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "title: one word of 8 meetings' titles (1 in 8)",
            "?limit=50&title=board".into(),
            ListFilter {
                title_words: vec!["board".into()],
                ..ListFilter::default()
            },
            None,
        ),
        (
            "title: two words, one meeting (1 in 20,000)",
            "?limit=50&title=onboarding%204242".into(),
            ListFilter {
                title_words: vec!["onboarding".into(), "4242".into()],
                ..ListFilter::default()
            },
            None,
        ),
        (
            "title: a number, one meeting (1 in 20,000)",
            "?limit=50&title=%234242".into(),
            ListFilter {
                title_words: vec!["#4242".into()],
                ..ListFilter::default()
            },
            None,
        ),
        (
            "title: a word no title has",
            "?limit=50&title=zebra".into(),
            ListFilter {
                title_words: vec!["zebra".into()],
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_recording (1 in 10)",
            "?limit=50&has_recording=true".into(),
            ListFilter {
                has_recording: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_transcript (1 in 100)",
            "?limit=50&has_transcript=true".into(),
            ListFilter {
                has_transcript: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_summary (1 in 1,000)",
            "?limit=50&has_summary=true".into(),
            ListFilter {
                has_summary: Some(true),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "has_summary, deep cursor",
            format!("?limit=50&has_summary=true{cursor}"),
            ListFilter {
                has_summary: Some(true),
                ..ListFilter::default()
            },
            Some(deep_cursor.clone()),
        ),
        (
            "has_recording=false",
            "?limit=50&has_recording=false".into(),
            ListFilter {
                has_recording: Some(false),
                ..ListFilter::default()
            },
            None,
        ),
        (
            "organization_id, deep cursor",
            format!("?limit=50&organization_id=org-42{cursor}"),
            ListFilter {
                organization_id: Some("org-42".into()),
                ..ListFilter::default()
            },
            Some(deep_cursor),
        ),
    ];
    println!(
        "{:<30} | {:>8} {:>8} {:>8} | plan",
        "GET /sessions", "p50 ms", "p99 ms", "max ms"
    );
    let mut plans = Vec::new();
    for (name, query, filter, cursor) in &cases {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        for _ in 0..iterations {
            let started = Instant::now();
            let page = get(query.clone()).await?;
            latency.saturating_record(started.elapsed().as_micros() as u64);
            // Every case finds sessions but the search for a word no title has.
            let found = page["data"].as_array().is_some_and(|d| !d.is_empty());
            anyhow::ensure!(
                found != name.contains("no title has"),
                "{name}: {} page",
                if found { "a full" } else { "an empty" }
            );
        }
        let plan = explain_session_list(&db, filter, cursor.as_ref(), 50).await?;
        let scan = plan
            .iter()
            .find(|l| l.contains("Scan"))
            .map(|l| l.trim().trim_start_matches("->").trim().to_owned())
            .unwrap_or_default();
        println!(
            "{:<30} | {:>8.2} {:>8.2} {:>8.2} | {}",
            name,
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
            scan.split(" (").next().unwrap_or_default()
        );
        plans.push((name.to_string(), plan));
    }
    println!("\nEXPLAIN (ANALYZE, BUFFERS) of each:");
    for (name, plan) in plans {
        println!("\n-- {name}");
        for line in plan {
            println!("{line}");
        }
    }
    console_pages(&service, &db, rows, iterations, &cursor).await?;
    let (rss, hwm) = rss_mib(service.pid());
    println!("\nservice RSS after the query benchmark: {rss:.1} MiB (peak {hwm:.1} MiB)");
    Ok(())
}

/// The console's pages over the same million sessions, with a delivery and a follow-up job per session (1 in 1,000
/// delivery unprocessable; 1 in 1,000 job dead, 1 in 2,000 failing), signed in as a browser is.
pub(crate) async fn console_pages(
    service: &Service,
    db: &PgPool,
    rows: i64,
    iterations: usize,
    cursor: &str,
) -> anyhow::Result<()> {
    println!("\nseeding {rows} deliveries and {rows} follow-up jobs...");
    let seeding = Instant::now();
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, status, error, session_id, received_at, raw_body)
         SELECT 'seed-' || i, 'meeting.ended', CASE WHEN i % 1000 = 0 THEN 'unprocessable' ELSE 'stored' END,
                CASE WHEN i % 1000 = 0 THEN 'meeting.sessionId is missing' END, md5(i::text),
                timestamptz '2026-01-01' + (i * interval '30 seconds'), convert_to('{\"event\":\"meeting.ended\"}', 'UTF8')
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(db)
    .await?;
    sqlx::query(
        "INSERT INTO followup_jobs (session_id, followup, kind, status, attempts, max_attempts, run_at, last_error,
                                    finished_at)
         SELECT md5(i::text), 'webhook', 'webhook',
                CASE WHEN i % 1000 = 0 THEN 'dead' WHEN i % 2000 = 1 THEN 'queued' ELSE 'succeeded' END,
                CASE WHEN i % 1000 = 0 THEN 8 WHEN i % 2000 = 1 THEN 3 ELSE 1 END, 8, now(),
                CASE WHEN i % 1000 = 0 OR i % 2000 = 1 THEN 'the receiver answered 500' END,
                CASE WHEN i % 2000 = 1 THEN NULL ELSE now() END
         FROM generate_series(1, $1) AS i",
    )
    .bind(rows)
    .execute(db)
    .await?;
    sqlx::query("VACUUM ANALYZE deliveries").execute(db).await?;
    sqlx::query("VACUUM ANALYZE followup_jobs").execute(db).await?;
    println!("seeded in {:.1}s\n", seeding.elapsed().as_secs_f64());

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = console_sign_in(&http, &service.url).await?;
    let one_session: String = sqlx::query_scalar("SELECT md5('4242')").fetch_one(db).await?;
    let pages = [
        ("overview", "/console".to_owned()),
        ("sessions, first page", "/console/sessions".to_owned()),
        (
            "sessions, 10,000 rows deep",
            format!("/console/sessions?limit=50{cursor}"),
        ),
        (
            "sessions, meeting_id",
            "/console/sessions?meeting_id=meeting-4242".to_owned(),
        ),
        ("sessions, has_summary", "/console/sessions?has_summary=true".to_owned()),
        ("one session", format!("/console/sessions/{one_session}")),
        ("follow-ups, dead", "/console/followups?state=dead".to_owned()),
        ("follow-ups, failing", "/console/followups?state=failing".to_owned()),
        ("deliveries, unprocessable", "/console/deliveries".to_owned()),
        ("deliveries, any", "/console/deliveries?outcome=any".to_owned()),
        ("artifacts at risk", "/console/artifacts".to_owned()),
    ];
    println!(
        "{:<30} | {:>8} {:>8} {:>8} | bytes",
        "console page", "p50 ms", "p99 ms", "max ms"
    );
    for (name, path) in pages {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
        let mut size = 0;
        for _ in 0..iterations {
            let started = Instant::now();
            let response = http
                .get(format!("{}{path}", service.url))
                .header("cookie", &cookie)
                .send()
                .await?;
            anyhow::ensure!(response.status().is_success(), "{name}: {}", response.status());
            size = response.bytes().await?.len();
            latency.saturating_record(started.elapsed().as_micros() as u64);
        }
        println!(
            "{:<30} | {:>8.2} {:>8.2} {:>8.2} | {size}",
            name,
            ms(latency.value_at_quantile(0.5)),
            ms(latency.value_at_quantile(0.99)),
            ms(latency.max()),
        );
    }
    Ok(())
}

/// Signs in through the console's form; the `Cookie` header of the session.
pub(crate) async fn console_sign_in(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let form = http.get(format!("{base}/console/sign-in")).send().await?;
    let form_cookie = first_cookie(form.headers()).context("the sign-in form's cookie")?;
    let page = form.text().await?;
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the sign-in form's CSRF field")?;
    let signed_in = http
        .post(format!("{base}/console/sign-in"))
        .header("cookie", form_cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={TOKEN}&csrf={csrf}"))
        .send()
        .await?;
    anyhow::ensure!(signed_in.status().is_redirection(), "sign-in: {}", signed_in.status());
    first_cookie(signed_in.headers()).context("the session cookie")
}

pub(crate) fn first_cookie(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::SET_COOKIE)?.to_str().ok()?;
    value.split(';').next().map(str::to_owned)
}
