//! The console without a browser: scopes on every route of the API, the sign-in cookie (its flags, its expiry,
//! what it holds), CSRF, what a `read` session may do, and that no page or log line holds a token. The browser
//! tests (`console_browser.rs`) drive the same pages in Chromium.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::helpers::{API_TOKEN, READ_TOKEN, TestApp, spawn_app, spawn_app_with, status_and_json};

/// A client that keeps the console's cookies and does not follow redirects, so that each answer can be looked at.
pub struct ConsoleClient {
    base: String,
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    }

    /// The first CSRF field of the page.
    pub fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("the page has a CSRF field")
            + 19;
        self.body[start..].split('"').next().unwrap_or_default().to_owned()
    }
}

impl ConsoleClient {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_owned(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn answer(&mut self, request: reqwest::RequestBuilder) -> Answer {
        let response = request
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("the console answers");
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a body"),
        };
        for cookie in answer.set_cookies() {
            let pair = cookie.split(';').next().unwrap_or_default();
            let (name, value) = pair.split_once('=').expect("name=value");
            if value.is_empty() || cookie.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_owned(), value.to_owned());
            }
        }
        answer
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        let request = self.http.get(format!("{}{path}", self.base));
        self.answer(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Answer {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        self.answer(request).await
    }

    /// Signs in with `token` through the form, as a browser does; the answer to the form's POST.
    pub async fn sign_in(&mut self, token: &str) -> Answer {
        let form = self.get("/console/sign-in").await;
        assert_eq!(form.status, 200, "{}", form.body);
        let csrf = form.csrf();
        self.post("/console/sign-in", &[("token", token), ("csrf", &csrf)])
            .await
    }
}

/// Each operation of the OpenAPI document: its path, its method and the scope it states (`None`: public).
fn operations() -> Vec<(String, String, Option<String>)> {
    let document = serde_json::to_value(rtk_sessions::openapi_document()).expect("json");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("operations") {
            let public = operation["security"] == serde_json::json!([{}]);
            let scope = operation["x-required-scope"].as_str().map(str::to_owned);
            if !public {
                let security = &operation["security"];
                let declared = security[0]["bearer"][0].as_str();
                assert_eq!(
                    declared,
                    scope.as_deref(),
                    "{method} {path}: security and x-required-scope agree"
                );
                assert!(scope.is_some(), "{method} {path} states no scope");
            }
            operations.push((path.clone(), method.clone(), scope));
        }
    }
    operations
}

#[tokio::test]
async fn every_operation_of_the_spec_states_its_scope_and_the_service_enforces_it() {
    let app = spawn_app().await;
    let http = reqwest::Client::new();
    let operations = operations();
    assert!(operations.len() >= 14, "{operations:?}");
    let mut checked = 0;
    for (path, method, scope) in operations {
        let Some(scope) = scope else {
            assert!(
                rtk_sessions::PUBLIC_PATHS.contains(&path.as_str()),
                "{method} {path} is public in the spec but not in the service"
            );
            continue;
        };
        let expected = if method == "get" { "read" } else { "operate" };
        assert_eq!(
            scope, expected,
            "{method} {path}: reading is GET, anything else operates"
        );
        let concrete = path.replace("{kind}", "transcript").replace(['{', '}'], "");
        let url = format!("{}{concrete}", app.address);
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("a method");
        let send = |token: Option<&str>| {
            let mut request = http.request(method.clone(), &url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            async move { request.send().await.expect("answers") }
        };
        assert_eq!(send(None).await.status(), 401, "{method} {path} without a token");
        assert_eq!(
            send(Some("not-a-token")).await.status(),
            401,
            "{method} {path} with a wrong token"
        );
        let as_reader = send(Some(READ_TOKEN)).await;
        let as_operator = send(Some(API_TOKEN)).await;
        assert!(
            ![401, 403].contains(&as_operator.status().as_u16()),
            "{method} {path} as operate"
        );
        if scope == "read" {
            assert!(
                ![401, 403].contains(&as_reader.status().as_u16()),
                "{method} {path} as read"
            );
        } else {
            let (status, body) = status_and_json(as_reader).await;
            assert_eq!(status, 403, "{method} {path} as read: {body}");
            assert_eq!(body["error"]["code"], "insufficient_scope");
            let message = body["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("test-reader") && !message.contains(READ_TOKEN),
                "{message}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 11, "every operator operation was checked ({checked})");
    // `/metrics` is for Prometheus, not in the document: a `GET`, so `read`.
    let metrics = http
        .get(format!("{}/metrics", app.address))
        .bearer_auth(READ_TOKEN)
        .send()
        .await;
    assert_eq!(metrics.expect("answers").status(), 200);
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_holding_a_signed_session_not_the_token() {
    let app = spawn_app().await;
    let mut console = ConsoleClient::new(&app.address);
    assert_eq!(console.get("/console").await.location(), Some("/console/sign-in"));

    let signed_in = console.sign_in(API_TOKEN).await;
    assert_eq!((signed_in.status, signed_in.location()), (303, Some("/console")));
    let cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("rtk_console="))
        .expect("a session cookie");
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/console", "Max-Age=28800"] {
        assert!(cookie.contains(flag), "{flag}: {cookie}");
    }
    assert!(!cookie.contains("Secure"), "http://: no Secure flag: {cookie}");
    assert!(!cookie.contains(API_TOKEN), "the cookie holds a session, not the token");

    let overview = console.get("/console").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("test-operator") && !overview.body.contains(API_TOKEN));
    for (name, value) in [
        ("content-security-policy", "script-src 'self'"),
        ("content-security-policy", "frame-ancestors 'none'"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
        ("cache-control", "no-store"),
    ] {
        let header = overview
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(header.contains(value), "{name}: {header}");
    }
    assert!(!overview.body.contains("<script>"), "no inline script");

    // A changed byte of the session is no session.
    let session = console.cookies["rtk_console"].clone();
    let mut tampered = session.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    console
        .cookies
        .insert("rtk_console".into(), String::from_utf8(tampered).expect("ascii"));
    assert_eq!(console.get("/console").await.status, 303);
    console.cookies.insert("rtk_console".into(), session);

    // Sign-out clears it; the API still wants its bearer token, never the cookie.
    let csrf = console.get("/console").await.csrf();
    let out = console.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!((out.status, out.location()), (303, Some("/console/sign-in")));
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("rtk_console=;") && c.contains("Max-Age=0"))
    );
    assert!(!console.cookies.contains_key("rtk_console"));

    let wrong = console.sign_in("not-a-token").await;
    assert_eq!(wrong.status, 401);
    assert!(wrong.body.contains("not valid") && !wrong.body.contains("not-a-token"));
}

#[tokio::test]
async fn a_session_expires_is_secure_behind_https_and_ends_when_its_token_goes() {
    let app = spawn_app_with(|s| {
        s.console.session_ttl = Duration::from_secs(1);
        s.server.public_url = Some("https://rtk.example.com".parse().expect("url"));
    })
    .await;
    let mut console = ConsoleClient::new(&app.address);
    let signed_in = console.sign_in(READ_TOKEN).await;
    let cookie = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-rtk_console="))
        .expect("a session cookie, with the __Host- prefix over https");
    assert!(
        cookie.contains("Secure")
            && cookie.contains("Max-Age=1")
            && cookie.contains("Path=/;")
            && !cookie.contains("Domain"),
        "{cookie}"
    );
    assert!(
        signed_in.headers.contains_key("strict-transport-security"),
        "HSTS over https"
    );
    assert_eq!(console.get("/console").await.status, 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    // The browser would have dropped it; a replayed copy is refused all the same.
    assert_eq!(console.get("/console").await.location(), Some("/console/sign-in"));

    // A session from a replica whose token was since removed is no session.
    let other = spawn_app_with(|s| s.database.url = app.settings.database.url.clone()).await;
    let mut console = ConsoleClient::new(&other.address);
    console.sign_in(READ_TOKEN).await;
    let session = console.cookies["rtk_console"].clone();
    let without_reader = spawn_app_with(|s| {
        s.database.url = app.settings.database.url.clone();
        s.api.tokens.retain(|t| t.name != "test-reader");
    })
    .await;
    let mut elsewhere = ConsoleClient::new(&without_reader.address);
    elsewhere.cookies.insert("rtk_console".into(), session.clone());
    assert_eq!(elsewhere.get("/console").await.status, 303, "the token is gone");
    let mut same_config = ConsoleClient::new(&app.address);
    // The https replica names its cookie `__Host-rtk_console`; the session is the same.
    same_config.cookies.insert("__Host-rtk_console".into(), session);
    assert_eq!(
        same_config.get("/console").await.status,
        200,
        "any replica accepts a session of another"
    );
}

async fn dead_job(app: &TestApp) -> (String, i64) {
    let (status, ack) = status_and_json(app.deliver(&app.meeting_ended()).await).await;
    assert_eq!(status, 200);
    let session_id = ack["session_id"].as_str().expect("session").to_owned();
    let id: i64 = sqlx::query_scalar(
        "UPDATE followup_jobs SET status = 'dead', attempts = max_attempts, last_error = 'HTTP 500 from the receiver',
                finished_at = now()
         WHERE session_id = $1 RETURNING id",
    )
    .bind(&session_id)
    .fetch_one(&app.db)
    .await
    .expect("a job");
    (session_id, id)
}

fn app_with_a_followup(s: &mut rtk_sessions::Settings) {
    s.worker.enabled = false;
    s.followups = vec![
        serde_json::from_value(serde_json::json!({"kind": "webhook", "url": "http://127.0.0.1:9/h",
            "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}))
        .expect("entry"),
    ];
}

#[tokio::test]
async fn a_form_without_its_csrf_token_or_with_another_sessions_is_refused_and_changes_nothing() {
    let app = spawn_app_with(app_with_a_followup).await;
    let (session_id, job) = dead_job(&app).await;
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(API_TOKEN).await;
    let mut other = ConsoleClient::new(&app.address);
    other.sign_in(API_TOKEN).await;
    let others_csrf = other.get("/console").await.csrf();

    let retry = format!("/console/followups/{job}/retry");
    for form in [vec![], vec![("csrf", "")], vec![("csrf", others_csrf.as_str())]] {
        let refused = console.post(&retry, &form).await;
        assert_eq!(refused.status, 403, "{form:?}: {}", refused.body);
        assert!(refused.body.contains("CSRF"), "{}", refused.body);
    }
    assert_eq!(app.jobs().await[0].2, "dead", "nothing was retried");

    // Signing in needs the form's own cookie: a stranger's page cannot sign a browser in.
    let mut stranger = ConsoleClient::new(&app.address);
    let forged = stranger
        .post("/console/sign-in", &[("token", API_TOKEN), ("csrf", "made-up")])
        .await;
    assert_eq!(forged.status, 403);
    assert!(!stranger.cookies.contains_key("rtk_console"));

    // With its token, the same press works.
    let page = console.get(&format!("/console/sessions/{session_id}")).await;
    let done = console.post(&retry, &[("csrf", &page.csrf())]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.jobs().await[0].2, "queued");
}

#[tokio::test]
async fn a_read_session_sees_no_action_and_is_refused_one() {
    let app = spawn_app_with(app_with_a_followup).await;
    let (session_id, job) = dead_job(&app).await;
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let page = console.get(&format!("/console/sessions/{session_id}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("HTTP 500 from the receiver"),
        "the last error is shown"
    );
    for action in ["Retry", "End this meeting", "/console/meetings/end", "Replay"] {
        assert!(!page.body.contains(action), "a read session sees no {action:?}");
    }
    let dead = console.get("/console/followups?status=dead").await;
    assert!(dead.body.contains("HTTP 500") && !dead.body.contains("Retry"));

    let csrf = page.csrf();
    let refused = console
        .post(&format!("/console/followups/{job}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(refused.status, 403);
    assert!(refused.body.contains("operate"), "{}", refused.body);
    let refused = console
        .post("/console/followups/retry", &[("csrf", &csrf), ("state", "dead")])
        .await;
    assert_eq!(refused.status, 403);
    let end = console.get("/console/meetings/end").await;
    assert_eq!(end.status, 403);
    assert_eq!(app.jobs().await[0].2, "dead");
}

#[tokio::test]
async fn retry_all_brings_back_every_dead_job_matching_the_filter() {
    let app = spawn_app_with(app_with_a_followup).await;
    for _ in 0..3 {
        dead_job(&app).await;
    }
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(API_TOKEN).await;
    let list = console.get("/console/followups?status=dead").await;
    assert!(list.body.contains("Retry all matching"));
    // Identical errors are counted once; every row names its job and its session.
    assert!(
        list.body
            .contains("3 ×</strong> <span class=\"error-text\">HTTP 500 from the receiver"),
        "{}",
        list.body
    );
    // The button asks first, saying how many; nothing is retried by asking.
    let confirm = console.get("/console/followups/retry?status=dead").await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(
        confirm.body.contains("Retry <strong>3</strong> dead follow-ups"),
        "{}",
        confirm.body
    );
    assert_eq!(app.jobs().await[0].2, "dead");
    let done = console
        .post(
            "/console/followups/retry",
            &[
                ("csrf", &confirm.csrf()),
                ("status", "dead"),
                ("followup", ""),
                ("session_id", ""),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = console.get(done.location().expect("back to the list")).await;
    assert!(after.body.contains("3 follow-ups are queued again"), "{}", after.body);
    let statuses: Vec<String> = app.jobs().await.into_iter().map(|j| j.2).collect();
    assert_eq!(statuses, vec!["queued"; 3]);
}

#[tokio::test]
async fn every_list_page_takes_the_api_filters_and_refuses_a_bad_one_in_words() {
    let app = spawn_app().await;
    for _ in 0..3 {
        app.deliver(&app.meeting_ended()).await;
    }
    let mut console = ConsoleClient::new(&app.address);
    console.sign_in(READ_TOKEN).await;
    let sessions = console.get("/console/sessions?limit=2").await;
    assert_eq!(sessions.status, 200);
    let link = |body: &str, rel: &str| -> String {
        let before = body
            .split(&format!("\" rel=\"{rel}\""))
            .next()
            .filter(|b| b.len() < body.len())
            .unwrap_or_else(|| panic!("a {rel} link: {body}"));
        before
            .rsplit("href=\"")
            .next()
            .unwrap_or_default()
            .replace("&amp;", "&")
    };
    let next = link(&sessions.body, "next");
    assert!(
        next.starts_with("/console/sessions?limit=2&cursor="),
        "keyset pages: {next}"
    );
    let second = console.get(&next).await;
    assert_eq!(second.status, 200);
    assert!(!second.body.contains("rel=\"next\""), "{}", second.body);
    assert!(second.body.contains("« First"), "{}", second.body);
    // Previous leads back to the first page, its filters kept.
    let previous = console.get(&link(&second.body, "prev")).await;
    assert_eq!(previous.status, 200);
    assert_eq!(link(&previous.body, "next"), next);
    let bad = console.get("/console/sessions?ended_after=yesterday").await;
    assert!(bad.body.contains("ended_after"), "{}", bad.body);
    for page in [
        "/console/deliveries?outcome=any",
        "/console/followups?status=failing",
        "/console/artifacts",
    ] {
        assert_eq!(console.get(page).await.status, 200, "{page}");
    }
    let unknown = console.get("/console/followups?status=everything").await;
    assert_eq!(unknown.status, 400);
}

/// The pages and the sign-in answers never carry a token; the API's answers name the token, never its value.
#[tokio::test]
async fn no_page_holds_a_token() {
    let app = spawn_app_with(app_with_a_followup).await;
    let (session_id, _) = dead_job(&app).await;
    let mut console = ConsoleClient::new(&app.address);
    let signed_in = console.sign_in(API_TOKEN).await;
    let mut seen = signed_in.body.clone() + &signed_in.set_cookies().join("\n");
    for page in [
        "/console".to_owned(),
        "/console/sessions".to_owned(),
        format!("/console/sessions/{session_id}"),
        "/console/followups?status=dead".to_owned(),
        "/console/deliveries?outcome=any".to_owned(),
        "/console/meetings/end".to_owned(),
    ] {
        let answer = console.get(&page).await;
        assert_eq!(answer.status, 200, "{page}");
        seen.push_str(&answer.body);
    }
    for token in [API_TOKEN, READ_TOKEN] {
        assert!(!seen.contains(token), "a page holds {token}");
    }
    let (_, readiness): (u16, Value) = app.readiness().await;
    assert!(!readiness.to_string().contains(API_TOKEN));
}

/// `tokens hash` makes the entry that the service then accepts, and the log of everything done with the tokens
/// (calls of both scopes, a refusal, a wrong token, console sign-in and sign-out) names them and never holds a
/// token or a session cookie.
#[tokio::test]
async fn tokens_hash_makes_a_working_entry_and_the_log_names_tokens_never_their_values() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    use crate::binary::{BINARY, command, free_port};

    let (support_secret, on_call_secret, wrong) = (
        "support-secret-1-0123456789abcdef0123456789",
        "oncall-secret-2-0123456789abcdef0123456789",
        "wrong-token-3-0123456789abcdef0123456789",
    );
    let mut hashing = Command::new(BINARY)
        .args(["tokens", "hash", "--name", "support", "--scope", "read"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    writeln!(hashing.stdin.take().expect("stdin"), "{support_secret}").expect("written");
    let hashed = hashing.wait_with_output().expect("it ends");
    let entry = String::from_utf8_lossy(&hashed.stdout).to_string();
    assert!(hashed.status.success(), "{entry}");
    assert!(
        entry.starts_with("[[api.tokens]]\nname = \"support\"\nscope = \"read\"\nsha256 = \""),
        "{entry}"
    );
    assert!(!entry.contains(support_secret));

    let folder = std::env::temp_dir().join(format!("rtk-tokens-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&folder).expect("a folder");
    let config = folder.join("config.toml");
    std::fs::write(
        &config,
        format!("{entry}\n[[api.tokens]]\nname = \"on-call\"\nscope = \"operate\"\ntoken = \"{on_call_secret}\"\n"),
    )
    .expect("written");
    let keys = folder.join("keys");
    let keygen = Command::new(BINARY)
        .args(["dev", "keygen", "--out"])
        .arg(&keys)
        .output()
        .expect("keygen");
    assert!(keygen.status.success());
    let log_path = folder.join("service.log");
    let port = free_port();
    let database = format!("rtk_tokens_{}", uuid::Uuid::new_v4().simple());
    let mut service = command(&database)
        .env_remove("RTK_SESSIONS__API__TOKENS")
        .env("RUST_LOG", "debug,hyper=info,h2=info,hyper_util=info")
        .env("RTK_SESSIONS__SERVER__BIND", format!("127.0.0.1:{port}"))
        .env(
            "RTK_SESSIONS__REALTIMEKIT__PUBLIC_KEY_FILE",
            keys.join("rtk-dev-public.pem"),
        )
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).expect("a log file"))
        .spawn()
        .expect("serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..200 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the service became ready");

    let call = |method: reqwest::Method, path: &str, token: &str| {
        http.request(method, format!("{base}{path}")).bearer_auth(token).send()
    };
    assert_eq!(
        call(reqwest::Method::GET, "/sessions", support_secret)
            .await
            .expect("answers")
            .status(),
        200
    );
    assert_eq!(
        call(reqwest::Method::POST, "/followups/1/retry", support_secret)
            .await
            .expect("answers")
            .status(),
        403
    );
    assert_eq!(
        call(reqwest::Method::POST, "/followups/1/retry", on_call_secret)
            .await
            .expect("answers")
            .status(),
        404
    );
    assert_eq!(
        call(reqwest::Method::GET, "/sessions", wrong)
            .await
            .expect("answers")
            .status(),
        401
    );
    let mut cookies = Vec::new();
    for token in [support_secret, on_call_secret] {
        let mut console = ConsoleClient::new(&base);
        assert_eq!(console.sign_in(token).await.status, 303);
        cookies.push(console.cookies["rtk_console"].clone());
        let overview = console.get("/console").await;
        assert_eq!(overview.status, 200);
        let out = console.post("/console/sign-out", &[("csrf", &overview.csrf())]).await;
        assert_eq!(out.status, 303);
    }
    assert_eq!(ConsoleClient::new(&base).sign_in(wrong).await.status, 401);

    let _ = service.kill();
    let _ = service.wait();
    crate::helpers::drop_database(&database);
    let log = std::fs::read_to_string(&log_path).expect("the log");
    let _ = std::fs::remove_dir_all(&folder);
    assert!(
        log.contains("console sign-in") && log.contains("token=\"support\"") && log.contains("on-call"),
        "{log}"
    );
    for secret in [support_secret, on_call_secret, wrong]
        .into_iter()
        .chain(cookies.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "the log holds {secret}");
    }
}

#[tokio::test]
async fn signing_in_from_a_link_comes_back_to_the_page_and_never_leaves_the_console() {
    let app = spawn_app().await;
    let mut console = ConsoleClient::new(&app.address);
    let asked = console.get("/console/followups?status=dead").await;
    let sign_in = asked.location().expect("sent to sign in").to_owned();
    assert_eq!(sign_in, "/console/sign-in?next=%2Fconsole%2Ffollowups%3Fstatus%3Ddead");
    let form = console.get(&sign_in).await;
    assert!(
        form.body
            .contains("name=\"next\" value=\"/console/followups?status=dead\""),
        "{}",
        form.body
    );
    let csrf = form.csrf();
    let signed_in = console
        .post(
            "/console/sign-in",
            &[
                ("token", READ_TOKEN),
                ("csrf", &csrf),
                ("next", "/console/followups?status=dead"),
            ],
        )
        .await;
    assert_eq!(signed_in.location(), Some("/console/followups?status=dead"));

    for elsewhere in [
        "https://evil.example/",
        "//evil.example/console",
        "/sessions",
        "/console/é",
        "/console/\u{7f}",
    ] {
        let mut other = ConsoleClient::new(&app.address);
        let csrf = other.get("/console/sign-in").await.csrf();
        let answer = other
            .post(
                "/console/sign-in",
                &[("token", READ_TOKEN), ("csrf", &csrf), ("next", elsewhere)],
            )
            .await;
        assert_eq!(answer.location(), Some("/console"), "{elsewhere}");
    }
}

#[tokio::test]
async fn the_browser_root_leads_to_the_console_and_the_console_has_an_icon() {
    let app = spawn_app().await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let get = |path: &str| browser.get(format!("{}{path}", app.address)).send();
    let root = get("/").await.expect("answer");
    assert_eq!(root.status(), 303);
    assert_eq!(root.headers()["location"], "/console");
    let icon = get("/favicon.ico").await.expect("answer");
    assert_eq!(icon.status(), 308);
    assert_eq!(icon.headers()["location"], "/console/assets/favicon.svg");
    let svg = get("/console/assets/favicon.svg").await.expect("answer");
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.expect("body").starts_with("<svg"));
}
