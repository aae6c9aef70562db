//! A local fake of the Cloudflare RealtimeKit API that behaves as FACTS.md documents: the `{success, data}`
//! envelope, 201 on create, 400/401/403/404/429 (with `retry-after`)/500, and Cloudflare's own `errors[]` envelope
//! for a refused token. It keeps state (webhooks, meetings, sessions) and records every call in order.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtk_sessions::Settings;

use crate::helpers::test_settings;
use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const ACCOUNT: &str = "acc-1";
/// The app id the fixtures' deliveries carry (`meeting.organizedBy.id`), so that a test app configured with this
/// fake accepts them as its own.
pub const APP: &str = "c94c437b-592a-4a39-b9e2-47ef1451e43b";
pub const GOOD_TOKEN: &str = "cf-good-token";
/// A second app of the same account, with a token of its own.
pub const APP_2: &str = "6a1f0b2e-2b8c-4d5e-9f00-0000000000a2";
pub const GOOD_TOKEN_2: &str = "cf-good-token-app-2";
pub const FORBIDDEN_TOKEN: &str = "cf-forbidden-token";
pub const PUBLIC_URL: &str = "https://sessions.example.com";
pub const OUR_WEBHOOK_URL: &str = "https://sessions.example.com/webhooks/realtimekit";

#[derive(Default)]
pub struct State {
    pub webhooks: Vec<Value>,
    next_id: u64,
    /// meeting id -> status (ACTIVE or INACTIVE)
    pub meetings: HashMap<String, String>,
    /// meeting id -> its settings (`record_on_start`, `transcribe_on_end`, ...), in its GET answer.
    pub meeting_settings: HashMap<String, Value>,
    /// meeting id -> participants in its active session
    pub active_sessions: HashMap<String, u64>,
    /// Sessions the Sessions API lists.
    pub sessions: Vec<Value>,
    /// Sessions it knows by id but leaves out of its lists (they ended before the window asked for).
    pub unlisted_sessions: Vec<Value>,
    /// Whether list answers carry `paging` (older answers do not).
    pub paging: bool,
    /// Answers given before any normal one, in order.
    pub scripted: VecDeque<ResponseTemplate>,
    /// Every call: (method, path below the app prefix, query).
    pub calls: Vec<(String, String, String)>,
    /// Every call with its app: (app id, method, path below the app prefix, the bearer token).
    pub app_calls: Vec<(String, String, String, String)>,
    /// The apps of the account and the token each accepts (the first app's, `GOOD_TOKEN`, by default).
    pub app_tokens: HashMap<String, String>,
    /// The fake's own URL, for the download URLs it hands out.
    pub base: String,
    /// Files behind pre-signed download URLs (`/files/{name}?v={version}`), by name.
    pub files: HashMap<String, FakeFile>,
    /// Recordings the Recordings API knows: recording id -> (session id, meeting id, file name).
    pub recordings: HashMap<String, FakeRecording>,
    /// Transcripts, summaries and chats the Sessions API gives URLs for: (session id, kind) -> file name.
    pub session_files: HashMap<(String, String), String>,
    /// Limits enforced as Cloudflare does (a sliding window, then 429 with `retry-after`); none by default.
    pub limits: Vec<FakeLimit>,
    /// When each limited bucket's calls were let through, by bucket.
    limit_log: HashMap<String, VecDeque<Instant>>,
    /// The 429s the limits answered.
    pub rate_limited: u32,
}

/// A limit the fake enforces: at most `requests` calls in any `window`, per token, per app, or per app on the
/// recording APIs.
#[derive(Clone, Copy, Debug)]
pub struct FakeLimit {
    pub per: LimitScope,
    pub requests: usize,
    pub window: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitScope {
    Token,
    App,
    Recordings,
}

impl State {
    /// The 429 a call gets when one of the limits has no room for it; else the call is counted.
    fn over_limit(&mut self, token: &str, app: &str, path: &str) -> Option<ResponseTemplate> {
        let now = Instant::now();
        let mut counted = Vec::new();
        for limit in self.limits.clone() {
            let bucket = match limit.per {
                LimitScope::Token => format!("token:{token}"),
                LimitScope::App => format!("app:{app}"),
                LimitScope::Recordings if path.starts_with("recordings") => format!("recordings:{app}"),
                LimitScope::Recordings => continue,
            };
            let log = self.limit_log.entry(bucket.clone()).or_default();
            while log.front().is_some_and(|at| now.duration_since(*at) >= limit.window) {
                log.pop_front();
            }
            if log.len() >= limit.requests {
                let free_in = limit.window - now.duration_since(*log.front().expect("full"));
                self.rate_limited += 1;
                let retry_after = free_in.as_secs_f64().ceil().max(1.0) as u64;
                return Some(
                    cloudflare_error(429, 10429, "Rate limited: too many requests")
                        .insert_header("retry-after", retry_after.to_string().as_str()),
                );
            }
            counted.push(bucket);
        }
        for bucket in counted {
            self.limit_log.entry(bucket).or_default().push_back(now);
        }
        None
    }
}

/// A file RealtimeKit's store serves. A URL signed for an older version has expired (403, as S3 answers); a file
/// that is gone answers 404 everywhere, the API included.
pub struct FakeFile {
    pub bytes: Vec<u8>,
    pub version: u32,
    pub gone: bool,
    /// The store answers 503 for it (an outage on RealtimeKit's side).
    pub unavailable: bool,
    pub downloads: u32,
}

#[derive(Clone)]
pub struct FakeCloudflare {
    pub server: Arc<MockServer>,
    pub state: Arc<Mutex<State>>,
}

struct Responder(Arc<Mutex<State>>);

impl FakeCloudflare {
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            paging: true,
            base: server.uri(),
            app_tokens: HashMap::from([(APP.to_owned(), GOOD_TOKEN.to_owned())]),
            ..State::default()
        }));
        Mock::given(any())
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self {
            server: Arc::new(server),
            state,
        }
    }

    pub fn api_base(&self) -> String {
        format!("{}/client/v4", self.server.uri())
    }

    /// Points a test app's settings at this fake, with working credentials and a public URL.
    pub fn configure(&self, settings: &mut Settings) {
        settings.realtimekit.api_base = self.api_base();
        settings.realtimekit.account_id = ACCOUNT.into();
        settings.realtimekit.app_id = APP.into();
        settings.realtimekit.api_token = rtk_sessions::Secret::new(GOOD_TOKEN);
        settings.server.public_url = Some(PUBLIC_URL.parse().expect("a URL"));
    }

    pub fn client(&self, token: &str) -> rtk_sessions::RealtimeKitClient {
        rtk_sessions::RealtimeKitClient::new(
            &self.api_base(),
            ACCOUNT,
            APP,
            rtk_sessions::Secret::new(token),
            reqwest::Client::new(),
            rtk_sessions::RetryPolicy {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                ..Default::default()
            },
            rtk_sessions::CallBudget::local(&test_settings().realtimekit.limits),
        )
        .expect("client")
    }

    /// The configured app's API, as the service holds it, with this fake's quick retries.
    pub fn clients(&self, token: &str) -> rtk_sessions::AppClients {
        let app = rtk_sessions::App {
            app_id: APP.into(),
            name: None,
            account_id: ACCOUNT.into(),
            api_token: rtk_sessions::Secret::new(token),
        };
        rtk_sessions::AppClients::new(
            rtk_sessions::Apps::new(vec![app]),
            &self.api_base(),
            reqwest::Client::new(),
            rtk_sessions::RetryPolicy {
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
                ..Default::default()
            },
            rtk_sessions::CallBudget::local(&test_settings().realtimekit.limits),
        )
        .expect("clients")
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().expect("fake state"))
    }

    pub fn add_webhook(&self, name: &str, url: &str, events: &[&str], enabled: bool) -> String {
        self.with(|s| {
            s.next_id += 1;
            let id = format!("00000000-0000-4000-8000-{:012}", s.next_id);
            s.webhooks.push(json!({
                "id": id, "name": name, "url": url, "events": events, "enabled": enabled,
                "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "app": APP
            }));
            id
        })
    }

    /// A second app of the account, called with `token`.
    pub fn add_app(&self, app_id: &str, token: &str) {
        self.with(|s| s.app_tokens.insert(app_id.to_owned(), token.to_owned()));
    }

    /// The calls made for `app_id`: (method, path below its prefix, bearer token).
    pub fn calls_of(&self, app_id: &str) -> Vec<(String, String, String)> {
        self.with(|s| {
            (s.app_calls.iter())
                .filter(|(app, ..)| app == app_id)
                .map(|(_, m, p, t)| (m.clone(), p.clone(), t.clone()))
                .collect()
        })
    }

    pub fn webhooks(&self) -> Vec<Value> {
        self.with(|s| s.webhooks.clone())
    }

    pub fn calls(&self) -> Vec<(String, String)> {
        self.with(|s| s.calls.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect())
    }

    pub fn calls_with_query(&self) -> Vec<(String, String, String)> {
        self.with(|s| s.calls.clone())
    }

    pub fn script(&self, answers: impl IntoIterator<Item = ResponseTemplate>) {
        self.with(|s| s.scripted.extend(answers));
    }

    /// Puts a file in RealtimeKit's store and returns its current pre-signed URL.
    pub fn add_file(&self, name: &str, bytes: Vec<u8>) -> String {
        self.with(|s| {
            s.files.insert(
                name.to_owned(),
                FakeFile {
                    bytes,
                    version: 1,
                    gone: false,
                    unavailable: false,
                    downloads: 0,
                },
            );
            s.file_url(name)
        })
    }

    /// Every URL handed out so far for the file expires; the API hands out fresh ones.
    pub fn expire(&self, name: &str) {
        self.with(|s| s.files.get_mut(name).expect("a file").version += 1);
    }

    /// RealtimeKit deletes the file (its 7 days are over).
    pub fn delete(&self, name: &str) {
        self.with(|s| s.files.get_mut(name).expect("a file").gone = true);
    }

    /// The store answers 503 for the file until it is made available again.
    pub fn make_unavailable(&self, name: &str, unavailable: bool) {
        self.with(|s| s.files.get_mut(name).expect("a file").unavailable = unavailable);
    }

    pub fn downloads(&self, name: &str) -> u32 {
        self.with(|s| s.files.get(name).map_or(0, |f| f.downloads))
    }

    /// A composite recording whose one file is `file` (added with `add_file`).
    pub fn add_recording(&self, recording_id: &str, session_id: &str, meeting_id: &str, file: &str) {
        self.with(|s| {
            let entry = FakeRecording {
                session_id: session_id.to_owned(),
                meeting_id: meeting_id.to_owned(),
                files: vec![file.to_owned()],
                track: false,
            };
            s.recordings.insert(recording_id.to_owned(), entry)
        });
    }

    /// A track recording: one file per track (added with `add_file`), listed in one layer by their names.
    pub fn add_track_recording(&self, recording_id: &str, session_id: &str, meeting_id: &str, files: &[&str]) {
        self.with(|s| {
            let entry = FakeRecording {
                session_id: session_id.to_owned(),
                meeting_id: meeting_id.to_owned(),
                files: files.iter().map(|f| f.to_string()).collect(),
                track: true,
            };
            s.recordings.insert(recording_id.to_owned(), entry)
        });
    }

    /// `kind` is `transcript`, `summary` or `chat`.
    pub fn add_session_file(&self, session_id: &str, kind: &str, file: &str) {
        self.with(|s| {
            s.session_files
                .insert((session_id.to_owned(), kind.to_owned()), file.to_owned())
        });
    }
}

/// A recording the fake's API knows.
pub struct FakeRecording {
    pub session_id: String,
    pub meeting_id: String,
    /// Names of files added with `add_file`.
    pub files: Vec<String>,
    pub track: bool,
}

impl State {
    pub fn file_url(&self, name: &str) -> String {
        let version = self.files.get(name).map_or(0, |f| f.version);
        format!(
            "{}/files/{name}?X-Amz-Expires=604800&X-Amz-Signature=sig&v={version}",
            self.base
        )
    }

    /// The file's URL and size, unless it is gone.
    fn live_file(&self, name: &str) -> Option<(String, usize)> {
        let file = self.files.get(name).filter(|f| !f.gone)?;
        Some((self.file_url(name), file.bytes.len()))
    }

    /// `GET /recordings/{id}` as RealtimeKit answers it: a composite recording's `download_url` is its file's
    /// URL; a track recording's is a list of layers (the track recording guide's shape). A recording whose files
    /// are all gone is gone.
    fn recording(&self, id: &str) -> Option<Value> {
        let recording = self.recordings.get(id)?;
        let live: Vec<(&String, (String, usize))> = (recording.files.iter())
            .filter_map(|name| Some((name, self.live_file(name)?)))
            .collect();
        let (first_name, (first_url, first_size)) = live.first()?.clone();
        let (download_url, file_size, kind) = if recording.track {
            let urls: serde_json::Map<String, Value> = (live.iter())
                .map(|(name, (url, _))| (name.to_string(), json!({"download_url": url})))
                .collect();
            (
                json!([{"layer_name": "default", "download_urls": urls}]),
                Value::Null,
                "TRACK",
            )
        } else {
            (json!(first_url), json!(first_size), "COMPOSITE")
        };
        Some(json!({
            "id": id, "download_url": download_url, "download_url_expiry": "2099-01-01T00:00:00Z",
            "file_size": file_size, "audio_download_url": null, "type": kind,
            "session_id": recording.session_id, "meeting_id": recording.meeting_id, "status": "UPLOADED",
            "output_file_name": first_name, "started_time": "2026-06-03T10:00:05Z",
            "stopped_time": "2026-06-03T10:29:55Z", "recording_duration": 1790
        }))
    }
}

/// What RealtimeKit's store answers for `/files/{name}?v=N`.
fn serve_file(state: &mut State, request: &Request) -> ResponseTemplate {
    let name = request.url.path().trim_start_matches("/files/").to_owned();
    let version: u32 = (request.url.query_pairs())
        .find(|(k, _)| k == "v")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    match state.files.get_mut(&name) {
        Some(file) if file.unavailable => ResponseTemplate::new(503)
            .set_body_string("<Error><Code>ServiceUnavailable</Code><Message>Please try again.</Message></Error>"),
        Some(file) if !file.gone && file.version == version => {
            file.downloads += 1;
            ResponseTemplate::new(200)
                .insert_header("content-type", "application/octet-stream")
                .set_body_bytes(file.bytes.clone())
        }
        Some(file) if !file.gone => ResponseTemplate::new(403)
            .set_body_string("<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"),
        _ => ResponseTemplate::new(404).set_body_string(
            "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>",
        ),
    }
}

fn ok(status: u16, data: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"success": true, "data": data}))
}

pub fn rtk_error(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(json!({"success": false, "error": {"code": status, "message": message}}))
}

pub fn cloudflare_error(status: u16, code: u64, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null
    }))
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().expect("fake state");
        if request.url.path().starts_with("/files/") {
            return serve_file(&mut state, request);
        }
        let prefix = format!("/client/v4/accounts/{ACCOUNT}/realtime/kit/");
        let Some((app, path)) = (request.url.path().strip_prefix(&prefix))
            .and_then(|rest| rest.split_once('/'))
            .map(|(app, path)| (app.to_owned(), path.to_owned()))
        else {
            return rtk_error(404, "NOT_FOUND: no such route");
        };
        let Some(app_token) = state.app_tokens.get(&app).cloned() else {
            return rtk_error(404, "NOT_FOUND: no such app");
        };
        let method = request.method.to_string();
        let authorization = request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        state.calls.push((
            method.clone(),
            path.clone(),
            request.url.query().unwrap_or_default().to_owned(),
        ));
        let token = authorization.trim_start_matches("Bearer ").to_owned();
        state
            .app_calls
            .push((app.clone(), method.clone(), path.clone(), token.clone()));
        if let Some(limited) = state.over_limit(&token, &app, &path) {
            return limited;
        }
        if let Some(scripted) = state.scripted.pop_front() {
            return scripted;
        }
        if authorization == format!("Bearer {FORBIDDEN_TOKEN}") {
            return rtk_error(403, "FORBIDDEN: the token lacks permission for this resource");
        }
        if authorization != format!("Bearer {app_token}") {
            return cloudflare_error(401, 10000, "Authentication error");
        }
        // Each app sees its own webhooks and sessions; a session that names no app is the first app's.
        let of_app = |value: &Value, key: &str| value[key].as_str().unwrap_or(APP) == app;
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let segments: Vec<&str> = path.split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("GET", ["webhooks"]) => {
                let webhooks = state.webhooks.iter().filter(|w| of_app(w, "app")).cloned().collect();
                // Slow enough that two replicas starting together would both see "none" without the lock.
                ok(200, Value::Array(webhooks)).set_delay(Duration::from_millis(150))
            }
            ("POST", ["webhooks"]) => {
                for field in ["name", "url", "events"] {
                    if body.get(field).is_none() {
                        return rtk_error(400, &format!("BAD_REQUEST: \"{field}\" is required"));
                    }
                }
                state.next_id += 1;
                let id = format!("00000000-0000-4000-8000-{:012}", state.next_id);
                let webhook = json!({
                    "id": id, "name": body["name"], "url": body["url"], "events": body["events"],
                    "enabled": body.get("enabled").cloned().unwrap_or(Value::Bool(true)),
                    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "app": app
                });
                state.webhooks.push(webhook.clone());
                ok(201, webhook)
            }
            (verb @ ("GET" | "PUT" | "PATCH" | "DELETE"), ["webhooks", id]) => {
                let Some(index) = state.webhooks.iter().position(|w| w["id"] == *id && of_app(w, "app")) else {
                    return rtk_error(404, "NOT_FOUND: webhook not found");
                };
                match verb {
                    "GET" => ok(200, state.webhooks[index].clone()),
                    "DELETE" => ok(200, state.webhooks.remove(index)),
                    _ => {
                        let webhook = &mut state.webhooks[index];
                        for field in ["name", "url", "events", "enabled"] {
                            if let Some(value) = body.get(field) {
                                webhook[field] = value.clone();
                            }
                        }
                        ok(200, webhook.clone())
                    }
                }
            }
            ("GET", ["meetings", id]) => match state.meetings.get(*id) {
                Some(status) => {
                    let mut meeting =
                        json!({"id": id, "title": "A meeting", "status": status, "created_at": "2026-01-01T00:00:00Z"});
                    if let Some(Value::Object(settings)) = state.meeting_settings.get(*id) {
                        for (key, value) in settings {
                            meeting[key] = value.clone();
                        }
                    }
                    ok(200, meeting)
                }
                None => rtk_error(404, "NOT_FOUND: meeting not found"),
            },
            ("PATCH", ["meetings", id]) => match state.meetings.get_mut(*id) {
                Some(status) => {
                    if let Some(new) = body.get("status").and_then(Value::as_str) {
                        *status = new.to_owned();
                    }
                    ok(200, json!({"id": id, "status": status}))
                }
                None => rtk_error(404, "NOT_FOUND: meeting not found"),
            },
            ("GET", ["meetings", id, "active-session"]) => match state.active_sessions.get(*id) {
                Some(count) => ok(200, json!({"id": "active", "live_participants": count})),
                None => rtk_error(404, "No active session found for the meeting"),
            },
            ("POST", ["meetings", id, "active-session", "kick-all"]) => match state.active_sessions.remove(*id) {
                Some(count) => ok(200, json!({"action": "kick-all", "kicked_participants_count": count})),
                None => rtk_error(404, "No active session found for the meeting"),
            },
            ("GET", ["sessions"]) => {
                let page_no: usize = query.get("page_no").and_then(|p| p.parse().ok()).unwrap_or(1);
                let per_page: usize = query.get("per_page").and_then(|p| p.parse().ok()).unwrap_or(20);
                let status = query.get("status").cloned();
                let matching: Vec<Value> = state
                    .sessions
                    .iter()
                    .filter(|s| status.as_ref().is_none_or(|wanted| s["status"] == *wanted.as_str()))
                    .filter(|s| of_app(s, "organization_id"))
                    .cloned()
                    .collect();
                let start = (page_no - 1) * per_page;
                let page: Vec<Value> = matching.iter().skip(start).take(per_page).cloned().collect();
                let mut answer = json!({"success": true, "data": {"sessions": page}});
                if state.paging {
                    answer["paging"] = json!({
                        "total_count": matching.len(), "start_offset": start, "end_offset": start + page.len()
                    });
                }
                ResponseTemplate::new(200).set_body_json(answer)
            }
            ("GET", ["recordings", id]) => match state.recording(id) {
                Some(recording) => ok(200, recording),
                None => rtk_error(404, "NOT_FOUND: recording not found"),
            },
            ("GET", ["recordings"]) => {
                let meeting = query.get("meeting_id").cloned().unwrap_or_default();
                let ids: Vec<String> = (state.recordings.iter())
                    .filter(|(_, recording)| recording.meeting_id == meeting)
                    .map(|(id, _)| id.clone())
                    .collect();
                let list: Vec<Value> = ids.iter().filter_map(|id| state.recording(id)).collect();
                ok(200, json!({"recordings": list}))
            }
            ("GET", ["sessions", id, kind @ ("transcript" | "summary" | "chat")]) => {
                let file = state
                    .session_files
                    .get(&((*id).to_owned(), (*kind).to_owned()))
                    .cloned();
                let Some((url, _)) = file.and_then(|f| state.live_file(&f)) else {
                    return rtk_error(404, &format!("NOT_FOUND: no {kind} for this session"));
                };
                let expiry = "2099-01-01T00:00:00Z";
                ok(
                    200,
                    match *kind {
                        "transcript" => json!({"sessionId": id, "transcript_download_url": url,
                                           "transcript_download_url_expiry": expiry}),
                        "summary" => {
                            json!({"sessionId": id, "summaryDownloadUrl": url, "summaryDownloadUrlExpiry": expiry})
                        }
                        _ => json!({"sessionId": id, "chat_download_url": url, "chat_download_url_expiry": expiry}),
                    },
                )
            }
            ("GET", ["sessions", id, "participants"]) => {
                match (state.sessions.iter().chain(&state.unlisted_sessions))
                    .find(|s| s["id"] == *id && of_app(s, "organization_id"))
                {
                    Some(session) => ok(
                        200,
                        json!({"participants": session.get("participants").cloned().unwrap_or(json!([]))}),
                    ),
                    None => rtk_error(404, "NOT_FOUND: session not found"),
                }
            }
            ("GET", ["sessions", id]) => {
                match (state.sessions.iter().chain(&state.unlisted_sessions))
                    .find(|s| s["id"] == *id && of_app(s, "organization_id"))
                {
                    Some(session) => ok(200, session.clone()),
                    None => rtk_error(404, "NOT_FOUND: session not found"),
                }
            }
            _ => rtk_error(404, "NOT_FOUND: no such route"),
        }
    }
}
