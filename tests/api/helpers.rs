//! `spawn_app()` starts exactly what production runs, on a random port, over a fresh database of its own, and
//! returns a `TestApp` with one helper per endpoint.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::Url;
use rtk_sessions::AppClients;
use rtk_sessions::Application;
use rtk_sessions::Registry;
use rtk_sessions::WebhookSigner;
use rtk_sessions::Worker;
use rtk_sessions::{ApiToken, Scope, Secret, Settings};
use rtk_sessions::{SignedDelivery, sample_body};
use serde_json::Value;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// An `operate` token, named `test-operator`.
pub const API_TOKEN: &str = "test-operator-token";
/// A `read` token, named `test-reader`.
pub const READ_TOKEN: &str = "test-reader-token";

/// The Postgres server the tests use: `TEST_DATABASE_URL`, or the local one.
pub fn server_url() -> Url {
    let url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    Url::parse(&url).expect("TEST_DATABASE_URL is a URL")
}

fn database_url(name: &str) -> String {
    let mut url = server_url();
    url.set_path(&format!("/{name}"));
    url.to_string()
}

/// RealtimeKit's signing key, as far as the tests are concerned (generated once: RSA key generation is slow).
pub fn realtimekit_signer() -> &'static WebhookSigner {
    static SIGNER: OnceLock<WebhookSigner> = OnceLock::new();
    SIGNER.get_or_init(|| WebhookSigner::generate().expect("keygen").0)
}

/// A key RealtimeKit does not have: what a forger or a rotated key signs with.
pub fn other_signer() -> &'static WebhookSigner {
    static SIGNER: OnceLock<WebhookSigner> = OnceLock::new();
    SIGNER.get_or_init(|| WebhookSigner::generate().expect("keygen").0)
}

pub fn init_test_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        rtk_sessions::init_telemetry(&Settings::default().log, rtk_sessions::Logging::Service);
    }
}

pub struct TestApp {
    pub settings: Settings,
    pub address: String,
    pub db: PgPool,
    pub db_name: String,
    pub http: reqwest::Client,
    pub shutdown: CancellationToken,
    pub server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// Settings for a test app: port 0, a fresh database name, the test signer's key pinned, one API token.
pub fn test_settings() -> Settings {
    let mut settings = Settings::default();
    settings.server.bind = "127.0.0.1:0".parse().expect("an address");
    settings.server.shutdown_grace = std::time::Duration::from_secs(5);
    settings.database.url = Secret::new(database_url(&format!("rtk_test_{}", uuid::Uuid::new_v4().simple())));
    settings.database.max_connections = std::num::NonZero::new(8).expect("above 0");
    settings.realtimekit.public_key_pem = realtimekit_signer().public_key_pem().expect("pem");
    settings.api.tokens = vec![
        ApiToken::from_value("test-operator", Scope::Operate, API_TOKEN),
        ApiToken::from_value("test-reader", Scope::Read, READ_TOKEN),
    ];
    settings.reconcile.enabled = false;
    settings.archive.url = Some(test_archive_url());
    // The fake's files are served over plain http on loopback.
    settings.archive.allow_private_sources = true;
    settings
}

/// A fresh, empty archive folder of the test's own.
pub fn test_archive_url() -> Url {
    let folder = std::env::temp_dir().join(format!("rtk-test-archive-{}", uuid::Uuid::new_v4().simple()));
    Url::from_directory_path(folder).expect("an absolute folder")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    configure(&mut settings);
    let app = start(settings).await;
    app.wait_until(|readiness| readiness["checks"]["database"]["status"] == "ok")
        .await;
    app
}

/// Starts the app without waiting for anything.
pub async fn start(settings: Settings) -> TestApp {
    init_test_logging();
    let db_url = settings.database.url.expose().to_owned();
    let db_name = Url::parse(&db_url)
        .expect("url")
        .path()
        .trim_start_matches('/')
        .to_owned();
    let application = Application::build(settings.clone())
        .await
        .expect("the application builds");
    let address = format!("http://127.0.0.1:{}", application.port());
    let shutdown = application.shutdown_token();
    let server = tokio::spawn(application.run_until_stopped());
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect_lazy(&db_url)
        .expect("test pool");
    TestApp {
        settings,
        address,
        db,
        db_name,
        http: reqwest::Client::new(),
        shutdown,
        server: Some(server),
    }
}

impl TestApp {
    pub fn webhook_url(&self) -> String {
        format!("{}/webhooks/realtimekit", self.address)
    }

    /// `/readyz` as an operator sees it (with the API token, so failing checks say what failed in words).
    pub async fn readiness(&self) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}/readyz", self.address))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("readyz answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("readyz is JSON"))
    }

    /// Polls `/readyz` until `condition` holds, for at most 20 seconds.
    pub async fn wait_until(&self, condition: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..400 {
            let (_, readiness) = self.readiness().await;
            if condition(&readiness) {
                return readiness;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "the app did not reach the expected readiness: {:?}",
            self.readiness().await
        );
    }

    /// A signed `meeting.ended` with fresh ids.
    pub fn meeting_ended(&self) -> SignedDelivery {
        SignedDelivery::new(realtimekit_signer(), sample_body("meeting.ended"))
    }

    pub fn signed(&self, body: impl Into<Vec<u8>>) -> SignedDelivery {
        SignedDelivery::new(realtimekit_signer(), body.into())
    }

    pub async fn deliver(&self, delivery: &SignedDelivery) -> reqwest::Response {
        delivery
            .request(&self.http, &self.webhook_url())
            .send()
            .await
            .expect("the receiver answers")
    }

    /// POSTs `body` with exactly these headers.
    pub async fn post_webhook(&self, body: impl Into<reqwest::Body>, headers: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.http.post(self.webhook_url()).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the receiver answers")
    }

    pub async fn get_sessions(&self, query: &str) -> reqwest::Response {
        self.get_authorized(&format!("/sessions{query}")).await
    }

    pub async fn get_session(&self, session_id: &str) -> reqwest::Response {
        self.get_authorized(&format!("/sessions/{session_id}")).await
    }

    pub async fn get_authorized(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.address))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("the API answers")
    }

    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&self.db)
            .await
            .expect("count")
    }

    pub async fn delivery_status(&self, delivery_id: &str) -> Option<String> {
        sqlx::query_scalar("SELECT status FROM deliveries WHERE delivery_id = $1")
            .bind(delivery_id)
            .fetch_optional(&self.db)
            .await
            .expect("query deliveries")
    }

    /// A follow-up worker over this app's database and configuration, for tests to drive the queue.
    pub fn worker(&self) -> Worker {
        let registry = Registry::from_settings(&self.settings).expect("valid follow-ups");
        let realtimekit =
            AppClients::from_settings(&self.settings.realtimekit, reqwest::Client::new()).expect("client settings");
        Worker::new(
            self.db.clone(),
            registry,
            std::sync::Arc::new(realtimekit),
            &self.settings,
        )
    }

    /// The follow-up jobs a newly recorded session gets under this app's configuration.
    pub fn job_specs(&self) -> rtk_sessions::JobSpecs {
        let registry = Registry::from_settings(&self.settings).expect("valid follow-ups");
        registry.job_specs(self.settings.worker.max_attempts)
    }

    /// Runs every follow-up job that is due now, to completion.
    pub async fn run_pending_jobs(&self) -> usize {
        self.worker().run_pending().await.expect("the queue runs")
    }

    /// Makes every waiting job due now, as if its backoff had passed.
    pub async fn make_jobs_due(&self) {
        sqlx::query("UPDATE followup_jobs SET run_at = now() WHERE status = 'queued'")
            .execute(&self.db)
            .await
            .expect("update");
    }

    pub async fn jobs(&self) -> Vec<(i64, String, String, i32, Option<String>)> {
        sqlx::query_as("SELECT id, followup, status, attempts, last_error FROM followup_jobs ORDER BY id")
            .fetch_all(&self.db)
            .await
            .expect("jobs")
    }

    /// Stops the server gracefully and returns what `run_until_stopped` returned.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        match self.server.take() {
            Some(server) => server.await.expect("the server task does not panic"),
            None => Ok(()),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        drop_database(&self.db_name);
    }
}

/// A new database (its name, and a pool of four) with the migrations of a release that ends before the first
/// migration whose description contains `first_new`, as a database created by that release is.
pub async fn database_migrated_before(first_new: &str) -> (String, PgPool) {
    let name = format!("rtk_test_{}", uuid::Uuid::new_v4().simple());
    let mut server = PgConnection::connect(server_url().as_str()).await.expect("server");
    server
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create");
    let mut url = server_url();
    url.set_path(&format!("/{name}"));
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(url.as_str())
        .await
        .expect("pool");
    let first_new = rtk_sessions::MIGRATOR
        .iter()
        .position(|m| m.description.contains(first_new))
        .expect("the first migration after that release");
    let previous = sqlx::migrate::Migrator {
        migrations: rtk_sessions::MIGRATOR.migrations[..first_new].to_vec().into(),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    previous.run(&db).await.expect("the previous release's migrations");
    (name, db)
}

/// Runs every migration on `db` while the previous release keeps writing: `write(db, n)` for n = 0, 1, … until
/// the migrations are done and at least `at_least` writes ran. Returns how many ran and what each failure said.
pub async fn migrate_while_writing<W, F>(db: &PgPool, at_least: i64, write: W) -> (i64, Vec<String>)
where
    W: Fn(PgPool, i64) -> F + Send + 'static,
    F: std::future::Future<Output = Result<(), sqlx::Error>> + Send,
{
    let migrating = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let writer = {
        let (db, migrating) = (db.clone(), migrating.clone());
        tokio::spawn(async move {
            let (mut written, mut failures) = (0, Vec::new());
            while migrating.load(std::sync::atomic::Ordering::Relaxed) || written < at_least {
                if let Err(error) = write(db.clone(), written).await {
                    failures.push(error.to_string());
                }
                written += 1;
            }
            (written, failures)
        })
    };
    rtk_sessions::MIGRATOR.run(db).await.expect("the new migrations");
    migrating.store(false, std::sync::atomic::Ordering::Relaxed);
    writer.await.expect("writer")
}

/// Drops a test database. Called from inside a test's runtime, so it runs on a thread with a runtime of its own.
pub fn drop_database(name: &str) {
    let statement = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let cleanup = std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        runtime.block_on(async {
            if let Ok(mut connection) = PgConnection::connect(server_url().as_str()).await {
                let _ = connection.execute(statement.as_str()).await;
            }
        });
    });
    let _ = cleanup.join();
}

/// A JSON body parsed from a response, with its status.
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("a body");
    let json = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, json)
}
