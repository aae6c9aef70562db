//! The follow-ups that publish to a bus, against the real servers: NATS JetStream and RabbitMQ and Redis as they run
//! beside the tests (127.0.0.1:4222, :5672, :6379), a `nats-server -js` of its own where the test kills it, and the
//! SQS of a `moto_server` the test starts. Every message carries its id and the CloudEvents attributes.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtk_sessions::{FollowupKind, FollowupSettings};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::binary::{KillOnDrop, free_port, moto_server};
use crate::helpers::{TestApp, spawn_app_with};

const SESSIONS: usize = 100;

async fn app_publishing_to(kind: FollowupKind, options: Value) -> TestApp {
    spawn_app_with(|s| {
        s.worker.enabled = false;
        s.archive.url = None;
        s.followups = vec![FollowupSettings::new(
            kind,
            options.as_object().cloned().unwrap_or_default(),
        )];
    })
    .await
}

/// Delivers `count` sessions and returns their ids.
async fn deliver_sessions(app: &TestApp, count: usize) -> HashSet<String> {
    let mut ids = HashSet::new();
    for _ in 0..count {
        let delivery = app.meeting_ended();
        assert_eq!(app.deliver(&delivery).await.status(), 200);
        let body: Value = serde_json::from_slice(&delivery.body).expect("JSON");
        ids.insert(body["meeting"]["sessionId"].as_str().expect("session id").to_owned());
    }
    ids
}

async fn job_states(app: &TestApp) -> Vec<(String, i32)> {
    sqlx::query_as("SELECT status, attempts FROM followup_jobs ORDER BY id")
        .fetch_all(&app.db)
        .await
        .expect("jobs")
}

async fn message_ids(app: &TestApp) -> HashSet<String> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar("SELECT message_id FROM followup_jobs")
        .fetch_all(&app.db)
        .await
        .expect("ids");
    ids.into_iter().map(|id| format!("msg_{}", id.simple())).collect()
}

/// Every job has succeeded.
async fn all_succeeded(app: &TestApp, count: usize) {
    let states = job_states(app).await;
    assert_eq!(states.len(), count);
    assert!(states.iter().all(|(status, _)| status == "succeeded"), "{states:?}");
}

/// Puts every job back as if its answer had been lost after the broker took the message: it runs again.
async fn run_every_job_again(app: &TestApp) {
    sqlx::query("UPDATE followup_jobs SET status = 'queued', attempts = 0, run_at = now(), finished_at = NULL")
        .execute(&app.db)
        .await
        .expect("requeue");
    app.run_pending_jobs().await;
}

/// Checks one message's CloudEvents attributes (looked up by `header`) against its body.
fn assert_cloudevent(header: impl Fn(&str) -> Option<String>, body: &[u8], sessions: &HashSet<String>) -> String {
    let body: Value = serde_json::from_slice(body).expect("a JSON body");
    assert_eq!(body["type"], "session.ended");
    assert_eq!(header("ce-type").as_deref(), Some("session.ended"));
    assert_eq!(header("ce-specversion").as_deref(), Some("1.0"));
    assert_eq!(header("ce-source").as_deref(), Some("urn:rtk-sessions"));
    assert!(header("ce-time").is_some_and(|t| chrono::DateTime::parse_from_rfc3339(&t).is_ok()));
    let session_id = body["data"]["session_id"].as_str().expect("data.session_id");
    assert!(sessions.contains(session_id));
    assert_eq!(header("ce-subject").as_deref(), Some(session_id));
    header("ce-id").expect("ce-id")
}

// NATS JetStream

async fn jetstream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url).await.expect("NATS answers");
    async_nats::jetstream::new(client)
}

/// A stream of its own for the test, on subject `rtk.test.<id>`.
async fn nats_stream(js: &async_nats::jetstream::Context) -> (async_nats::jetstream::stream::Stream, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let subject = format!("rtk.test.{id}");
    let stream = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: format!("RTK_TEST_{id}"),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("a stream");
    (stream, subject)
}

/// Every message of the stream, by its `Nats-Msg-Id`, with its CloudEvents checked.
async fn stream_messages(
    stream: &mut async_nats::jetstream::stream::Stream,
    sessions: &HashSet<String>,
) -> Vec<String> {
    let count = stream.info().await.expect("info").state.messages;
    let mut ids = Vec::new();
    for sequence in 1..=count {
        let message = stream.get_raw_message(sequence).await.expect("a message");
        let headers = message.headers.clone();
        let header = |name: &str| headers.get(name).map(|v| v.to_string());
        let id = assert_cloudevent(header, &message.payload, sessions);
        assert_eq!(header("Nats-Msg-Id"), Some(id.clone()));
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_give_a_hundred_jetstream_messages_each_with_its_id() {
    let js = jetstream("127.0.0.1:4222").await;
    let (mut stream, subject) = nats_stream(&js).await;
    let app = app_publishing_to(
        FollowupKind::Nats,
        json!({"url": "nats://127.0.0.1:4222", "subject": subject}),
    )
    .await;
    let sessions = deliver_sessions(&app, SESSIONS).await;
    app.run_pending_jobs().await;
    all_succeeded(&app, SESSIONS).await;
    let ids = stream_messages(&mut stream, &sessions).await;
    assert_eq!(ids.len(), SESSIONS);
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), message_ids(&app).await);

    // Every attempt again, as after lost acknowledgements: JetStream's duplicate window keeps one of each.
    run_every_job_again(&app).await;
    all_succeeded(&app, SESSIONS).await;
    assert_eq!(stream.info().await.expect("info").state.messages, SESSIONS as u64);
    js.delete_stream(stream.cached_info().config.name.clone())
        .await
        .expect("cleanup");
}

/// A `nats-server -js` of the test's own, on a port and a store folder of its own, that it can kill and restart.
struct OwnNats {
    port: u16,
    store: std::path::PathBuf,
    process: Option<KillOnDrop>,
}

impl OwnNats {
    async fn start() -> Self {
        let store = std::env::temp_dir().join(format!("rtk-nats-{}", uuid::Uuid::new_v4().simple()));
        let mut nats = Self {
            port: free_port(),
            store,
            process: None,
        };
        nats.restart().await;
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server (Debian's nats-server package)");
        self.process = Some(KillOnDrop(child));
        for _ in 0..200 {
            if async_nats::connect(self.url()).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nats-server did not start on port {}", self.port);
    }

    fn kill(&mut self) {
        self.process = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_server_killed_and_restarted_mid_run_loses_nothing_and_duplicates_nothing() {
    let mut nats = OwnNats::start().await;
    let js = jetstream(&nats.url()).await;
    let (_, subject) = nats_stream(&js).await;
    let app = app_publishing_to(FollowupKind::Nats, json!({"url": nats.url(), "subject": subject})).await;

    let first = deliver_sessions(&app, SESSIONS / 2).await;
    app.run_pending_jobs().await;
    nats.kill();
    let second = deliver_sessions(&app, SESSIONS / 2).await;
    app.run_pending_jobs().await;
    let waiting: Vec<_> = job_states(&app)
        .await
        .into_iter()
        .filter(|(s, _)| s == "queued")
        .collect();
    assert_eq!(
        waiting.len(),
        SESSIONS / 2,
        "the server is down: those attempts failed and wait"
    );

    nats.restart().await;
    app.make_jobs_due().await;
    // The client reconnects by itself, in the background: the jobs are retried until it has.
    for _ in 0..40 {
        app.run_pending_jobs().await;
        if job_states(&app).await.iter().all(|(s, _)| s == "succeeded") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        app.make_jobs_due().await;
    }
    all_succeeded(&app, SESSIONS).await;
    run_every_job_again(&app).await;

    let js = jetstream(&nats.url()).await;
    let mut stream = js
        .get_stream(format!("RTK_TEST_{}", &subject["rtk.test.".len()..]))
        .await
        .expect("stream");
    let sessions: HashSet<String> = first.union(&second).cloned().collect();
    let ids = stream_messages(&mut stream, &sessions).await;
    assert_eq!(ids.len(), SESSIONS, "one message per session, none lost, none twice");
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), message_ids(&app).await);
    let _ = std::fs::remove_dir_all(&nats.store);
}

// RabbitMQ

const AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

async fn amqp_channel() -> (lapin::Connection, lapin::Channel) {
    let connection = lapin::Connection::connect(AMQP_URL, lapin::ConnectionProperties::default())
        .await
        .expect("RabbitMQ answers");
    let channel = connection.create_channel().await.expect("a channel");
    (connection, channel)
}

/// A queue of the test's own, bound to `exchange` with `routing_key`.
async fn bound_queue(channel: &lapin::Channel, exchange: &str, routing_key: &str) -> String {
    let queue = format!("rtk-test-{}", uuid::Uuid::new_v4().simple());
    let options = lapin::options::QueueDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    channel
        .queue_declare(queue.as_str().into(), options, Default::default())
        .await
        .expect("queue");
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.into(),
            routing_key.into(),
            Default::default(),
            Default::default(),
        )
        .await
        .expect("bind");
    queue
}

async fn declare_exchange(channel: &lapin::Channel) -> String {
    let exchange = format!("rtk-test-{}", uuid::Uuid::new_v4().simple());
    let options = lapin::options::ExchangeDeclareOptions {
        auto_delete: true,
        ..Default::default()
    };
    channel
        .exchange_declare(
            exchange.as_str().into(),
            lapin::ExchangeKind::Direct,
            options,
            Default::default(),
        )
        .await
        .expect("exchange");
    exchange
}

/// Every message in the queue, by its `message_id`, each checked.
async fn drain(channel: &lapin::Channel, queue: &str, sessions: &HashSet<String>) -> Vec<String> {
    let mut ids = Vec::new();
    while let Some(message) = channel
        .basic_get(queue.into(), lapin::options::BasicGetOptions { no_ack: true })
        .await
        .expect("basic.get")
    {
        let properties = &message.delivery.properties;
        assert_eq!(properties.delivery_mode(), &Some(2), "persistent");
        let headers = properties.headers().clone().unwrap_or_default();
        let header = |name: &str| match headers.inner().get(name) {
            Some(lapin::types::AMQPValue::LongString(value)) => Some(value.to_string()),
            _ => None,
        };
        let id = assert_cloudevent(header, &message.delivery.data, sessions);
        assert_eq!(
            properties.message_id().as_ref().map(|m| m.to_string()),
            Some(id.clone())
        );
        ids.push(id);
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_give_a_hundred_persistent_confirmed_rabbitmq_messages() {
    let (_connection, channel) = amqp_channel().await;
    let exchange = declare_exchange(&channel).await;
    let queue = bound_queue(&channel, &exchange, "sessions").await;
    let app = app_publishing_to(
        FollowupKind::Rabbitmq,
        json!({"url": AMQP_URL, "exchange": exchange, "routing_key": "sessions"}),
    )
    .await;
    let sessions = deliver_sessions(&app, SESSIONS).await;
    app.run_pending_jobs().await;
    all_succeeded(&app, SESSIONS).await;
    let ids = drain(&channel, &queue, &sessions).await;
    assert_eq!(ids.len(), SESSIONS);
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), message_ids(&app).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rabbitmq_message_that_no_queue_takes_is_retried_not_lost() {
    let (_connection, channel) = amqp_channel().await;
    let exchange = declare_exchange(&channel).await;
    let app = app_publishing_to(
        FollowupKind::Rabbitmq,
        json!({"url": AMQP_URL, "exchange": exchange, "routing_key": "nobody-listens-yet"}),
    )
    .await;
    let sessions = deliver_sessions(&app, 1).await;
    app.run_pending_jobs().await;
    let jobs = app.jobs().await;
    assert_eq!(jobs[0].2, "queued", "{jobs:?}");
    assert!(jobs[0].4.as_deref().is_some_and(|e| e.contains("no queue")), "{jobs:?}");

    let queue = bound_queue(&channel, &exchange, "nobody-listens-yet").await;
    app.make_jobs_due().await;
    app.run_pending_jobs().await;
    all_succeeded(&app, 1).await;
    assert_eq!(drain(&channel, &queue, &sessions).await.len(), 1);
}

// Redis Streams

async fn redis_connection(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("URL")
        .get_multiplexed_async_connection()
        .await
        .expect("Redis answers")
}

/// Every entry of the stream, by its `ce-id`, each checked.
async fn stream_entries(
    redis: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    sessions: &HashSet<String>,
) -> Vec<String> {
    let entries: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(redis)
        .await
        .expect("XRANGE");
    entries
        .ids
        .iter()
        .map(|entry| {
            let field = |name: &str| entry.get::<String>(name);
            let body = entry.get::<Vec<u8>>("body").expect("a body field");
            assert_eq!(field("content-type").as_deref(), Some("application/json"));
            assert_cloudevent(field, &body, sessions)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_give_a_hundred_redis_stream_entries_each_appended_once() {
    let stream = format!("rtk-test-{}", uuid::Uuid::new_v4().simple());
    let app = app_publishing_to(
        FollowupKind::Redis,
        json!({"url": "redis://127.0.0.1:6379", "stream": stream, "max_len": 10000}),
    )
    .await;
    let sessions = deliver_sessions(&app, SESSIONS).await;
    app.run_pending_jobs().await;
    all_succeeded(&app, SESSIONS).await;
    run_every_job_again(&app).await;
    let mut redis = redis_connection("redis://127.0.0.1:6379").await;
    let ids = stream_entries(&mut redis, &stream, &sessions).await;
    assert_eq!(ids.len(), SESSIONS, "each appended once, though every job ran twice");
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), message_ids(&app).await);
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .expect("cleanup");
}

/// A TCP proxy to Redis that, while armed, swallows the answer to an append (a stream entry id) and cuts the
/// connection: the entry is written, and the client never learns it.
async fn answer_dropping_proxy(armed: Arc<AtomicBool>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let armed = armed.clone();
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:6379").await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                let upstream = tokio::io::copy(&mut client_read, &mut server_write);
                let downstream = async {
                    let mut buffer = vec![0u8; 64 * 1024];
                    loop {
                        let read = server_read.read(&mut buffer).await.unwrap_or(0);
                        if read == 0 {
                            return;
                        }
                        let text = String::from_utf8_lossy(&buffer[..read]);
                        let entry_id = text.starts_with('$')
                            && text.split("\r\n").nth(1).is_some_and(|id| {
                                id.split_once('-').is_some_and(|(ms, seq)| {
                                    !ms.is_empty() && ms.chars().chain(seq.chars()).all(|c| c.is_ascii_digit())
                                })
                            });
                        if entry_id && armed.swap(false, Ordering::SeqCst) {
                            return; // The answer is lost, and the connection with it.
                        }
                        if client_write.write_all(&buffer[..read]).await.is_err() {
                            return;
                        }
                    }
                };
                tokio::select! {
                    _ = upstream => {}
                    _ = downstream => {}
                }
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_append_retried_after_its_answer_was_lost_appears_once() {
    let armed = Arc::new(AtomicBool::new(true));
    let port = answer_dropping_proxy(armed.clone()).await;
    let stream = format!("rtk-test-{}", uuid::Uuid::new_v4().simple());
    let app = app_publishing_to(
        FollowupKind::Redis,
        json!({"url": format!("redis://127.0.0.1:{port}"), "stream": stream}),
    )
    .await;
    let sessions = deliver_sessions(&app, 1).await;
    app.run_pending_jobs().await;
    assert!(!armed.load(Ordering::SeqCst), "the proxy swallowed the answer");
    let jobs = app.jobs().await;
    assert_eq!(jobs[0].2, "queued", "the attempt failed and waits: {jobs:?}");

    let mut redis = redis_connection("redis://127.0.0.1:6379").await;
    assert_eq!(
        stream_entries(&mut redis, &stream, &sessions).await.len(),
        1,
        "written before the answer was lost"
    );
    app.make_jobs_due().await;
    app.run_pending_jobs().await;
    all_succeeded(&app, 1).await;
    assert_eq!(
        stream_entries(&mut redis, &stream, &sessions).await.len(),
        1,
        "and not written again"
    );
    let _: () = redis::cmd("DEL")
        .arg(&stream)
        .query_async(&mut redis)
        .await
        .expect("cleanup");
}

// SQS

struct Sqs {
    endpoint: String,
    client: aws_sdk_sqs::Client,
    _process: KillOnDrop,
}

impl Sqs {
    async fn start() -> Self {
        let (endpoint, process) = moto_server().await;
        let config = aws_sdk_sqs::Config::builder()
            .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
            .region(aws_sdk_sqs::config::Region::new("us-east-1"))
            .endpoint_url(&endpoint)
            .credentials_provider(aws_sdk_sqs::config::Credentials::new(
                "test", "test", None, None, "test",
            ))
            .build();
        Self {
            endpoint,
            client: aws_sdk_sqs::Client::from_conf(config),
            _process: process,
        }
    }

    async fn queue(&self, name: &str, fifo: bool) -> String {
        let mut create = self.client.create_queue().queue_name(name);
        if fifo {
            create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        create
            .send()
            .await
            .expect("a queue")
            .queue_url()
            .expect("its URL")
            .to_owned()
    }

    fn options(&self, queue_url: &str) -> Value {
        json!({
            "queue_url": queue_url,
            "region": "us-east-1",
            "endpoint_url": self.endpoint,
            "access_key_id": "test",
            "secret_access_key": "test",
        })
    }

    /// Every message in the queue, each checked, by `ce-id`.
    async fn drain(&self, queue_url: &str, sessions: &HashSet<String>) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let received = self
                .client
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .send()
                .await
                .expect("receive");
            let messages = received.messages.unwrap_or_default();
            if messages.is_empty() {
                return ids;
            }
            for message in messages {
                let attributes = message.message_attributes.clone().unwrap_or_default();
                let header = |name: &str| attributes.get(name).and_then(|a| a.string_value.clone());
                ids.push(assert_cloudevent(
                    header,
                    message.body().unwrap_or_default().as_bytes(),
                    sessions,
                ));
                self.client
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_sessions_give_a_hundred_sqs_messages_and_a_fifo_queue_dedupes_retries() {
    let sqs = Sqs::start().await;
    let queue = sqs.queue("rtk-sessions", false).await;
    let app = app_publishing_to(FollowupKind::Sqs, sqs.options(&queue)).await;
    let sessions = deliver_sessions(&app, SESSIONS).await;
    app.run_pending_jobs().await;
    all_succeeded(&app, SESSIONS).await;
    let ids = sqs.drain(&queue, &sessions).await;
    assert_eq!(ids.len(), SESSIONS);
    assert_eq!(ids.into_iter().collect::<HashSet<_>>(), message_ids(&app).await);

    let fifo = sqs.queue("rtk-sessions.fifo", true).await;
    let app = app_publishing_to(FollowupKind::Sqs, sqs.options(&fifo)).await;
    let sessions = deliver_sessions(&app, 10).await;
    app.run_pending_jobs().await;
    run_every_job_again(&app).await;
    all_succeeded(&app, 10).await;
    let ids = sqs.drain(&fifo, &sessions).await;
    assert_eq!(ids.len(), 10, "the retries were deduplicated by MessageDeduplicationId");
}

/// A broker that cannot be reached makes attempts fail and wait; the target is named without its credentials.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_fails_attempts_that_wait_and_never_shows_its_credentials() {
    let port = free_port();
    let app = app_publishing_to(
        FollowupKind::Rabbitmq,
        json!({"url": format!("amqp://user:hunter2@127.0.0.1:{port}/%2f"), "exchange": "", "routing_key": "q"}),
    )
    .await;
    deliver_sessions(&app, 3).await;
    app.run_pending_jobs().await;
    for (_, _, status, attempts, error) in app.jobs().await {
        assert_eq!((status.as_str(), attempts), ("queued", 1));
        let error = error.expect("why");
        assert!(error.contains(&format!("amqp://127.0.0.1:{port}")), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }
}
