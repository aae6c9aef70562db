//! The console's overview as an operator meets it: a fresh install says what to do, then the last delivery and a
//! chart of the day; an archive that cannot be written, or none, and silence after deliveries are said there (and
//! the archive on `/readyz`); every documented metric with known labels exists from the start.

use crate::console::ConsoleClient;
use crate::helpers::{API_TOKEN, READ_TOKEN, spawn_app, spawn_app_with};

fn meeting_ended(session_id: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "event": "meeting.ended",
        "meeting": {
            "id": "m-overview", "sessionId": session_id, "title": "Overview check", "status": "LIVE",
            "startedAt": "2026-06-03T10:00:00Z", "endedAt": "2026-06-03T10:30:00Z",
            "organizedBy": {"id": "o1", "name": "Org"}
        },
        "reason": "HOST_ENDED_MEETING"
    }))
    .expect("json")
}

#[tokio::test]
async fn a_fresh_install_says_where_deliveries_go_then_the_overview_shows_the_last_one_and_the_day() {
    let app = spawn_app_with(|settings| {
        settings.server.public_url = Some("https://sessions.example.com/".parse().expect("a url"));
    })
    .await;
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let fresh = console.get("/console").await;
    assert_eq!(fresh.status, 200);
    assert!(
        fresh.body.contains("No delivery received yet")
            && fresh.body.contains("https://sessions.example.com/webhooks/realtimekit")
            && fresh.body.contains("rtk-sessions dev send")
            && !fresh.body.contains("Nothing needs attention"),
        "{}",
        fresh.body
    );

    assert_eq!(
        app.deliver(&app.signed(meeting_ended("s-overview"))).await.status(),
        200
    );
    let overview = console.get("/console").await;
    assert!(!overview.body.contains("No delivery received yet"), "{}", overview.body);
    assert!(overview.body.contains("Last delivery received"), "{}", overview.body);
    assert!(
        overview.body.contains("just now") || overview.body.contains(" s ago"),
        "{}",
        overview.body
    );
    assert!(
        overview.body.contains("<svg class=\"chart\"") && overview.body.contains("1 deliveries in the last 24 hours"),
        "the chart, server-drawn: {}",
        overview.body
    );
    assert!(
        overview.body.contains("UTC: 1 stored"),
        "the bar of the hour: {}",
        overview.body
    );

    // Silence: the last delivery came 7 hours ago (alerts.silence_hours is 6).
    sqlx::query("UPDATE deliveries SET received_at = now() - interval '7 hours'")
        .execute(&app.db)
        .await
        .expect("moved back");
    let silent = console.get("/console").await;
    assert!(
        silent.body.contains("No delivery for 7 h") && silent.body.contains("rtk-sessions webhooks list"),
        "{}",
        silent.body
    );
}

#[tokio::test]
async fn an_archive_that_cannot_be_written_is_said_on_readyz_and_the_overview_and_serving_goes_on() {
    // A folder below a regular file can be made by nobody, root included.
    let blocker = std::env::temp_dir().join(format!("rtk-not-a-folder-{}", uuid::Uuid::new_v4().simple()));
    std::fs::write(&blocker, b"a file").expect("written");
    let url = url::Url::from_directory_path(blocker.join("archive")).expect("a url");
    let app = spawn_app_with(|settings| settings.archive.url = Some(url)).await;
    let readiness = app.wait_until(|r| r["checks"]["archive"]["state"] != "unchecked").await;
    assert_eq!(
        readiness["status"], "ready",
        "an archive never makes the service unready: {readiness}"
    );
    assert_eq!(readiness["checks"]["archive"]["state"], "unwritable", "{readiness}");
    let detail = readiness["checks"]["archive"]["detail"]
        .as_str()
        .expect("said to a token holder");
    assert!(detail.contains("cannot be written since"), "{detail}");
    let public: serde_json::Value = app
        .http
        .get(format!("{}/readyz", app.address))
        .send()
        .await
        .expect("answers")
        .json()
        .await
        .expect("json");
    assert_eq!(public["checks"]["archive"]["state"], "unwritable");
    assert!(
        public["checks"]["archive"]["detail"].is_null(),
        "no detail without a token: {public}"
    );

    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let overview = console.get("/console").await;
    assert!(overview.body.contains("cannot be written since"), "{}", overview.body);
    assert_eq!(
        app.deliver(&app.signed(meeting_ended("s-unwritable"))).await.status(),
        200
    );
    std::fs::remove_file(&blocker).ok();
}

#[tokio::test]
async fn no_archive_at_all_is_a_warning_and_metrics_exist_before_anything_happens() {
    let app = spawn_app_with(|settings| settings.archive.url = None).await;
    let readiness = app.wait_until(|r| r["checks"]["archive"]["state"] == "off").await;
    assert_eq!(readiness["status"], "ready");
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let overview = console.get("/console").await;
    assert!(
        overview.body.contains("No archive is configured") && overview.body.contains("7 days"),
        "{}",
        overview.body
    );

    let metrics = metrics_text(&app).await;
    for series in [
        "rtk_deliveries_rejected_total{reason=\"missing_signature\"}",
        "rtk_deliveries_rejected_total{reason=\"storage_unavailable\"}",
        "rtk_deliveries_total{outcome=\"unprocessable\",app=\"\"}",
        "rtk_signature_verification_failures_total",
        "rtk_reconciliation_sweeps_total{result=\"failed\"}",
        "rtk_artifacts_lost_total{kind=\"recording\"}",
        "rtk_public_key_refetches_total{result=\"failed\"}",
    ] {
        assert!(metrics.contains(series), "{series} exists from the start:\n{metrics}");
    }
}

#[test]
fn a_default_archive_folder_is_under_the_working_directory() {
    let defaults = rtk_sessions::Settings::default();
    let url = defaults.archive.url.expect("an archive by default");
    let folder = url.to_file_path().expect("a folder");
    assert_eq!(folder, std::env::current_dir().expect("a directory").join("archive"));
}

#[tokio::test]
async fn answers_are_compressed_for_clients_that_ask_and_assets_are_cached_by_version() {
    let app = spawn_app().await;
    let asked = |path: &str, encoding: &str| {
        app.http
            .get(format!("{}{path}", app.address))
            .bearer_auth(API_TOKEN)
            .header("accept-encoding", encoding)
            .send()
    };
    for encoding in ["gzip", "br"] {
        let answer = asked("/openapi.json", encoding).await.expect("answers");
        assert_eq!(answer.headers()["content-encoding"], encoding);
        // An answer of a few bytes is not worth it.
        let answer = asked("/sessions", encoding).await.expect("answers");
        assert_eq!(answer.status(), 200);
        assert!(answer.headers().get("content-encoding").is_none());
    }
    let plain = asked("/openapi.json", "identity").await.expect("answers");
    assert!(plain.headers().get("content-encoding").is_none());

    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let page = console.get("/console").await;
    assert_eq!(page.headers["cache-control"], "no-store", "pages are never cached");
    let start = page
        .body
        .find("/console/assets/console.css?v=")
        .expect("a versioned stylesheet link");
    let href = page.body[start..].split('"').next().expect("the link").to_owned();
    let stylesheet = app
        .http
        .get(format!("{}{href}", app.address))
        .send()
        .await
        .expect("answers");
    assert_eq!(stylesheet.status(), 200);
    assert_eq!(stylesheet.headers()["cache-control"], "public, max-age=86400");
    let etag = stylesheet.headers()["etag"].to_str().expect("an etag").to_owned();
    assert!(
        href.ends_with(etag.trim_matches('"')),
        "the link names the version: {href} {etag}"
    );
    let again = app
        .http
        .get(format!("{}{href}", app.address))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("answers");
    assert_eq!(again.status(), 304);
}

async fn metrics_text(app: &crate::helpers::TestApp) -> String {
    let response = app.get_authorized("/metrics").await;
    assert_eq!(response.status(), 200);
    response.text().await.expect("text")
}

/// The metric names a text mentions (`rtk_…`), a histogram's series folded into its name.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for (start, _) in text.match_indices("rtk_") {
        let name: String = text[start..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect();
        let name = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .map_or(name.clone(), str::to_owned);
        // Names that are not metrics: the service's own crate and environment prefixes.
        if name.len() > "rtk_".len() && !name.starts_with("rtk_sessions") && !name.starts_with("rtk_test") {
            names.insert(name);
        }
    }
    names
}

#[tokio::test]
async fn every_metric_the_alerts_and_the_dashboard_read_is_documented_and_exists_from_the_start() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |path: &str| std::fs::read_to_string(root.join(path)).expect(path);
    let operations = read("docs/OPERATIONS.md");
    let table = operations
        .split("| metric | type |")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("the metrics table of docs/OPERATIONS.md");
    let documented = metric_names(table);
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("deploy/grafana/rtk-sessions.json")).expect("the dashboard is JSON");
    assert!(
        dashboard["panels"].as_array().is_some_and(|p| p.len() > 10),
        "{dashboard}"
    );
    for (file, text) in [
        ("deploy/prometheus/alerts.yml", read("deploy/prometheus/alerts.yml")),
        (
            "deploy/grafana/rtk-sessions.json",
            read("deploy/grafana/rtk-sessions.json"),
        ),
    ] {
        let undocumented: Vec<_> = metric_names(&text).difference(&documented).cloned().collect();
        assert!(
            undocumented.is_empty(),
            "{file} reads metrics docs/OPERATIONS.md does not list: {undocumented:?}"
        );
    }

    // Series whose labels only exist once they happen: the Cloudflare endpoints and the statuses they answer; and
    // the reconciliation of each configured app (this one configures none).
    let labelled_when_they_happen = ["rtk_cloudflare_requests_total", "rtk_reconciliation_sessions_total"];
    let app = spawn_app().await;
    app.wait_until(|r| r["checks"]["archive"]["state"] == "ok").await;
    let mut missing = Vec::new();
    for _ in 0..20 {
        let metrics = metrics_text(&app).await;
        let exposed = metric_names(&metrics);
        missing = (documented.difference(&exposed))
            .filter(|name| !labelled_when_they_happen.contains(&name.as_str()))
            .cloned()
            .collect();
        if missing.is_empty() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("documented, not exposed before anything happens: {missing:?}");
}
