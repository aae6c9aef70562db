//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`; `.ci/run` installs them). An operator signs in, finds a session by its meeting id, opens it,
//! retries a dead follow-up and sees it succeed, replays an unprocessable delivery, ends a meeting against the
//! Cloudflare fake and signs out; a `read` session sees no action; a forged form without its CSRF token is refused.
//!
//! Each page is written as a PNG to `target/console-screenshots/`; with `UPDATE_SCREENSHOTS=1` the overview and
//! session pages are also written to `docs/`, where the README shows them.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::artifacts::{announced, bytes_of, ended, recording};
use crate::binary::free_port;
use crate::cloudflare_fake::FakeCloudflare;
use crate::helpers::{API_TOKEN, READ_TOKEN, TestApp, spawn_app_with, status_and_json};

/// ChromeDriver and the Chromium it drives; both end with the test.
struct Browser {
    driver: Child,
    client: Option<Client>,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    async fn open() -> Self {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("{driver_path}: {e}; the browser tests need Chromium and ChromeDriver (Debian: apt-get install chromium chromium-driver)")
            });
        let profile = std::env::temp_dir().join(format!("rtk-chromium-{}", uuid::Uuid::new_v4().simple()));
        let mut browser = Self {
            driver,
            client: None,
            profile,
        };
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1280,1000", "--lang=en-US",
                    format!("--user-data-dir={}", browser.profile.display()),
                ]
            }),
        );
        let webdriver = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            let connected = ClientBuilder::rustls()
                .expect("TLS roots")
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await;
            if let Ok(client) = connected {
                browser.client = Some(client);
                return browser;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ChromeDriver did not start a browser at {webdriver}");
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("a browser")
    }

    async fn goto(&self, url: &str) {
        self.client().goto(url).await.expect("the page loads");
    }

    async fn source(&self) -> String {
        self.client().source().await.expect("the page source")
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client()
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector}: {e}"))
    }

    async fn count(&self, selector: &str) -> usize {
        self.client()
            .find_all(Locator::Css(selector))
            .await
            .expect("find")
            .len()
    }

    async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.expect("click");
    }

    async fn type_into(&self, selector: &str, text: &str) {
        let field = self.css(selector).await;
        field.clear().await.expect("clear");
        field.send_keys(text).await.expect("type");
    }

    /// Waits (up to 10 s) for the page to hold `text`: a click that submits a form returns before the next page
    /// has loaded.
    async fn wait_for_text(&self, text: &str) -> String {
        for _ in 0..100 {
            let source = self.source().await;
            if source.contains(text) {
                return source;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page never showed {text:?}: {}", self.source().await);
    }

    /// Waits (up to 10 s) for the browser to be at `expected` (a path with its query).
    async fn wait_for_path(&self, expected: &str) {
        for _ in 0..100 {
            if self.path().await == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.path().await, expected);
    }

    async fn path(&self) -> String {
        let url = self.client().current_url().await.expect("url");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    async fn sign_in(&self, app: &TestApp, token: &str) {
        self.goto(&format!("{}/console", app.address)).await;
        assert_eq!(
            self.path().await,
            "/console/sign-in",
            "a page without a session asks to sign in"
        );
        self.type_into("input[name=token]", token).await;
        self.click("form[action='/console/sign-in'] button").await;
        self.css("form.who").await;
        self.wait_for_path("/console").await;
    }

    /// Writes the page as `target/console-screenshots/{name}.png` (and to `docs/` when asked).
    async fn screenshot(&self, name: &str) {
        let png = self.client().screenshot().await.expect("a screenshot");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let folder = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"))
            .join("console-screenshots");
        std::fs::create_dir_all(&folder).expect("a folder");
        std::fs::write(folder.join(format!("{name}.png")), &png).expect("written");
        if std::env::var_os("UPDATE_SCREENSHOTS").is_some() && ["overview", "session"].contains(&name) {
            std::fs::write(root.join("docs").join(format!("console-{name}.png")), &png).expect("written");
        }
    }

    async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
    }
}

/// A follow-up receiver that fails until told otherwise.
async fn failing_receiver() -> MockServer {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&receiver)
        .await;
    receiver
}

async fn heal(receiver: &MockServer) {
    receiver.reset().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(receiver)
        .await;
}

async fn console_app(fake: &FakeCloudflare, receiver: &MockServer) -> TestApp {
    spawn_app_with(|s| {
        fake.configure(s);
        s.worker.enabled = false;
        s.worker.max_attempts = std::num::NonZero::new(1).expect("above 0");
        s.followups = vec![
            serde_json::from_value(
                json!({"kind": "webhook", "name": "crm", "url": format!("{}/hook", receiver.uri()),
                "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
            )
            .expect("entry"),
        ];
    })
    .await
}

async fn deliver(app: &TestApp, body: Vec<u8>) -> serde_json::Value {
    let (status, ack) = status_and_json(app.deliver(&app.signed(body)).await).await;
    assert_eq!(status, 200, "{ack}");
    ack
}

/// A session worth looking at: a recording and a transcript, archived; a dead follow-up; a participant report.
async fn seed(app: &TestApp, fake: &FakeCloudflare) {
    let recording_url = fake.add_file("rec-browser.mp4", bytes_of(2_500_000, 3));
    let transcript_url = fake.add_file("s-browser.csv", b"speaker,text\nAda,Shall we start?\n".to_vec());
    deliver(
        app,
        recording("s-browser", "rec-browser", "UPLOADED", Some(&recording_url), 2_500_000),
    )
    .await;
    deliver(app, announced("transcript", "s-browser", &transcript_url)).await;
    let ended_at = (Utc::now() - chrono::Duration::minutes(12)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let mut session: serde_json::Value =
        serde_json::from_slice(&ended("s-browser", "m-browser", &ended_at)).expect("json");
    session["meeting"]["startedAt"] = json!((Utc::now() - chrono::Duration::minutes(52)).to_rfc3339());
    session["meeting"]["title"] = json!("Weekly planning");
    deliver(app, session.to_string().into_bytes()).await;
    for _ in 0..3 {
        deliver(app, rtk_sessions::sample_body("meeting.ended")).await;
    }
    // The follow-ups: archives succeed, every `crm` webhook meets a 500 and, with one attempt, is dead.
    app.run_pending_jobs().await;
    let at = |minutes: i64| (Utc::now() - chrono::Duration::minutes(minutes)).to_rfc3339();
    let report = json!({
        "session_id": "s-browser", "meeting_id": "m-browser", "meeting_title": "Weekly planning",
        "started_at": (Utc::now() - chrono::Duration::minutes(52)).to_rfc3339(), "ended_at": ended_at,
        "participant_count": 2, "total_participant_minutes": 71.5, "peak_concurrency": 2, "minutes_consumed": 80.0,
        "participants": [
            {"name": "Ada Lovelace", "custom_participant_id": "u-1", "joined_at": at(52), "left_at": at(12), "minutes": 40.0},
            {"name": "Grace Hopper", "custom_participant_id": "u-2", "joined_at": at(44), "left_at": at(12), "minutes": 31.5}
        ],
        "generated_at": Utc::now().to_rfc3339()
    });
    sqlx::query("INSERT INTO session_reports (session_id, report) VALUES ('s-browser', $1)")
        .bind(report)
        .execute(&app.db)
        .await
        .expect("a report");
    // What an older parser refused: a usable meeting.ended, kept byte for byte as unprocessable.
    sqlx::query(
        "INSERT INTO deliveries (delivery_id, event, status, error, raw_body)
         VALUES ('old-refused-1', 'meeting.ended', 'unprocessable', 'an older parser refused it', $1)",
    )
    .bind(ended("s-replayed", "m-replayed", "2026-11-20T09:00:00.000Z"))
    .execute(&app.db)
    .await
    .expect("a delivery");
}

#[tokio::test]
async fn an_operator_finds_a_session_retries_replays_ends_a_meeting_and_signs_out() {
    let fake = FakeCloudflare::start().await;
    fake.with(|s| {
        s.meetings.insert("m-browser".into(), "ACTIVE".into());
        s.active_sessions.insert("m-browser".into(), 4);
    });
    let receiver = failing_receiver().await;
    let app = console_app(&fake, &receiver).await;
    seed(&app, &fake).await;
    app.wait_until(|r| r["checks"]["registration"]["state"] == "registered")
        .await;
    let browser = Browser::open().await;

    browser.goto(&format!("{}/console", app.address)).await;
    browser.screenshot("sign-in").await;
    browser.sign_in(&app, API_TOKEN).await;
    let overview = browser.source().await;
    assert!(
        overview.contains("Needs attention") && overview.contains("4 dead follow-ups"),
        "{overview}"
    );
    assert!(overview.contains("1 unprocessable delivery<"));
    assert!(
        overview.contains("badge registered"),
        "the webhook registration's state is shown"
    );
    browser.screenshot("overview").await;

    // Follow-ups: the dead ones, with their last error. Retrying them all asks first, saying how many.
    browser.click("a[href='/console/followups?status=dead']").await;
    browser.wait_for_text("Retry all matching").await;
    browser.screenshot("followups").await;
    browser.click("a[href^='/console/followups/retry']").await;
    browser.wait_for_text("Retry <strong>4</strong> dead follow-ups").await;
    browser.screenshot("retry-all").await;
    browser.click("form.card a").await;
    browser.wait_for_path("/console/followups?status=dead").await;
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM followup_jobs WHERE status = 'dead'")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(dead, 4, "asking retried nothing");

    // Find the session by words of its title, in any case.
    browser.click("nav a[href='/console/sessions']").await;
    browser.type_into("input[name=title]", "WEEKLY plan").await;
    browser.click("form.filters button[type=submit]").await;
    for _ in 0..100 {
        if browser.path().await.contains("title=WEEKLY+plan") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(browser.count("tbody tr").await, 1, "one session titled Weekly planning");
    assert!(browser.source().await.contains("Weekly planning"));

    // Find the session by its meeting id, and open it.
    browser.click("a[href='/console/sessions']").await;
    browser.type_into("input[name=meeting_id]", "m-browser").await;
    browser.click("form.filters button[type=submit]").await;
    let found = "/console/sessions?title=&meeting_id=m-browser&app_id=&reason=&ended_after=&ended_before=&has_recording=&has_transcript=&has_summary=&has_chat=";
    browser.wait_for_path(found).await;
    assert_eq!(browser.count("tbody tr").await, 1, "one session of that meeting");
    let row = browser.source().await;
    assert!(
        row.contains("badge recorded") && row.contains("1 follow-up failing"),
        "the row says what needs doing: {row}"
    );
    browser.screenshot("sessions").await;
    // The filters survive navigation: away to the deliveries and back through the navigation.
    browser.click("nav a[href='/console/deliveries']").await;
    browser.wait_for_text("Received after").await;
    browser.click("nav a[href^='/console/sessions']").await;
    browser.wait_for_path(found).await;
    assert_eq!(browser.count("tbody tr").await, 1, "the same search");
    browser.click("a[href='/console/sessions/s-browser']").await;
    let page = browser.wait_for_text("Participant report").await;
    for expected in [
        "71.5",
        "Ada Lovelace",
        "rec-browser",
        "Download",
        "dead",
        "meeting.ended",
    ] {
        assert!(page.contains(expected), "the session page shows {expected:?}");
    }
    browser.client().set_window_size(1280, 1700).await.expect("resize");
    browser.screenshot("session").await;
    browser.client().set_window_size(1280, 1000).await.expect("resize");

    // Retry the dead follow-up; once the worker has run it, the page says it succeeded.
    heal(&receiver).await;
    browser.click("form[action$='/retry'] button").await;
    browser.wait_for_text("is queued again").await;
    assert_eq!(app.run_pending_jobs().await, 1);
    browser
        .goto(&format!("{}/console/sessions/s-browser", app.address))
        .await;
    let after = browser.source().await;
    assert!(
        after.contains("badge succeeded\">succeeded") && !after.contains("badge dead"),
        "{after}"
    );

    // Replay the unprocessable delivery: it is a session now.
    browser.click("nav a[href='/console/deliveries']").await;
    browser.wait_for_text("an older parser refused it").await;
    browser.screenshot("deliveries").await;
    browser.click("a[href='/console/deliveries/old-refused-1']").await;
    browser.wait_for_text("Body, exactly as received").await;
    assert!(browser.source().await.contains("s-replayed"), "the exact body is shown");
    browser.screenshot("delivery").await;
    browser.click("form[action$='/replay'] button").await;
    browser.wait_for_text("Replayed: it is now stored.").await;
    assert_eq!(app.get_session("s-replayed").await.status(), 200);

    // End the meeting's session, disabling the meeting, from its session page.
    browser
        .goto(&format!("{}/console/sessions/s-browser", app.address))
        .await;
    browser.click("a.button[href^='/console/meetings/end']").await;
    browser.wait_for_text("I understand").await;
    assert_eq!(
        browser
            .css("input[name=meeting_id]")
            .await
            .prop("value")
            .await
            .ok()
            .flatten()
            .as_deref(),
        Some("m-browser")
    );
    browser.click("input[name=disable]").await;
    browser.screenshot("end-session").await;
    // The confirmation is required: without it the browser does not send the form.
    browser.click("button.danger").await;
    assert_eq!(fake.with(|s| s.meetings["m-browser"].clone()), "ACTIVE");
    browser.click("input[name=confirm]").await;
    browser.click("button.danger").await;
    browser
        .wait_for_text("4 participants removed, and the meeting is disabled")
        .await;
    assert_eq!(fake.with(|s| s.meetings["m-browser"].clone()), "INACTIVE");

    // The overview on a phone.
    browser.goto(&format!("{}/console", app.address)).await;
    browser.client().set_window_size(390, 844).await.expect("resize");
    browser.screenshot("overview-phone").await;
    browser.client().set_window_size(1280, 1000).await.expect("resize");

    // Sign out: the console asks to sign in again.
    browser.click("form.who button").await;
    browser.wait_for_path("/console/sign-in").await;
    browser.goto(&format!("{}/console/sessions", app.address)).await;
    assert_eq!(browser.path().await, "/console/sign-in?next=%2Fconsole%2Fsessions");
    browser.close().await;
}

#[tokio::test]
async fn a_read_session_sees_no_action_and_a_forged_form_without_its_csrf_token_is_refused() {
    let fake = FakeCloudflare::start().await;
    let receiver = failing_receiver().await;
    let app = console_app(&fake, &receiver).await;
    seed(&app, &fake).await;
    let browser = Browser::open().await;

    // An operator's browser, sent a form by another site's page (here: built in the page, without the token).
    browser.sign_in(&app, API_TOKEN).await;
    let job: i64 =
        sqlx::query_scalar("SELECT id FROM followup_jobs WHERE session_id = 's-browser' AND status = 'dead'")
            .fetch_one(&app.db)
            .await
            .expect("a dead job");
    let forge = format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/console/followups/{job}/retry';
         document.body.appendChild(f); f.submit();"
    );
    browser
        .client()
        .execute(&forge, vec![])
        .await
        .expect("the forged form is sent");
    browser.wait_for_text("CSRF").await;
    let status: String = sqlx::query_scalar("SELECT status FROM followup_jobs WHERE id = $1")
        .bind(job)
        .fetch_one(&app.db)
        .await
        .expect("status");
    assert_eq!(status, "dead", "the forged form changed nothing");
    browser.click("form.who button").await;
    browser.wait_for_path("/console/sign-in").await;

    // A read session: the same pages, no button that acts.
    browser.sign_in(&app, READ_TOKEN).await;
    assert_eq!(browser.count("nav a[href='/console/meetings/end']").await, 0);
    browser
        .goto(&format!("{}/console/sessions/s-browser", app.address))
        .await;
    assert!(browser.source().await.contains("Ada Lovelace"));
    assert_eq!(browser.count("form[action$='/retry']").await, 0);
    assert_eq!(browser.count("a[href^='/console/meetings/end']").await, 0);
    browser
        .goto(&format!("{}/console/followups?status=dead", app.address))
        .await;
    assert_eq!(browser.count("form[action$='/retry']").await, 0);
    browser
        .goto(&format!("{}/console/deliveries/old-refused-1", app.address))
        .await;
    assert_eq!(browser.count("form[action$='/replay']").await, 0);
    browser.screenshot("session-read-only").await;
    browser.goto(&format!("{}/console/meetings/end", app.address)).await;
    browser.wait_for_text("needs scope operate").await;
    browser.close().await;
}

#[tokio::test]
async fn a_fresh_install_says_what_to_do_and_not_that_nothing_needs_attention() {
    let app = spawn_app_with(|s| s.worker.enabled = false).await;
    let browser = Browser::open().await;
    browser.sign_in(&app, API_TOKEN).await;
    let overview = browser.source().await;
    assert!(overview.contains("No delivery received yet"), "{overview}");
    assert!(overview.contains("/webhooks/realtimekit") && overview.contains("rtk-sessions dev send"));
    assert!(!overview.contains("Nothing needs attention"), "{overview}");
    browser.screenshot("overview-fresh").await;
    browser.close().await;
}

/// axe-core (`AXE_CORE_JS`, or `target/axe/node_modules/axe-core/axe.min.js` where `.ci/run` installs it).
fn axe_source() -> String {
    let path = std::env::var_os("AXE_CORE_JS").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe/node_modules/axe-core/axe.min.js")
    });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the accessibility test needs axe-core: npm install --prefix target/axe axe-core@4.14.1",
            path.display()
        )
    })
}

/// Every rule axe-core runs by default (WCAG 2 A and AA, and its best practices) on the page shown: the
/// violations, each as `rule (impact): the elements`.
async fn axe_violations(browser: &Browser, axe: &str) -> Vec<String> {
    browser.client().execute(axe, vec![]).await.expect("axe-core loads");
    let found = browser
        .client()
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations.map(v =>
                 v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', '))))
               .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    serde_json::from_value(found).expect("a list of violations")
}

#[tokio::test]
async fn every_console_page_passes_axe_core_at_desktop_and_phone_width() {
    let axe = axe_source();
    let fake = FakeCloudflare::start().await;
    let receiver = failing_receiver().await;
    let app = console_app(&fake, &receiver).await;
    seed(&app, &fake).await;
    let browser = Browser::open().await;
    let mut violations = Vec::new();
    for (width, height) in [(1280, 1000), (390, 844)] {
        browser.client().set_window_size(width, height).await.expect("resize");
        browser.goto(&format!("{}/console/sign-in", app.address)).await;
        for found in axe_violations(&browser, &axe).await {
            violations.push(format!("{width}px /console/sign-in: {found}"));
        }
        browser.sign_in(&app, API_TOKEN).await;
        for page in [
            "/console",
            "/console/sessions",
            "/console/sessions?title=weekly",
            "/console/sessions/s-browser",
            "/console/followups?status=dead",
            "/console/followups/retry?status=dead",
            "/console/deliveries",
            "/console/deliveries?outcome=any",
            "/console/deliveries/old-refused-1",
            "/console/artifacts",
            "/console/artifacts?state=failed",
            "/console/meetings/end",
            "/console/no-such-page",
        ] {
            browser.goto(&format!("{}{page}", app.address)).await;
            for found in axe_violations(&browser, &axe).await {
                violations.push(format!("{width}px {page}: {found}"));
            }
        }
        browser.goto(&format!("{}/console", app.address)).await;
        browser.click("form.who button").await;
        browser.wait_for_path("/console/sign-in").await;
    }
    browser.close().await;
    assert!(violations.is_empty(), "axe-core:\n{}", violations.join("\n"));
}
