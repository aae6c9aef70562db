//! `kind = "redis"`: appends the message to a Redis stream (`XADD`), with the CloudEvents attributes and the body
//! as fields (`ce-id`, `ce-type`, ..., `content-type`, `body`), trimmed to about `max_len` entries when set.
//!
//! At most once per message id: one script appends the entry and remembers its id under a key of its own
//! (`{stream}:rtk-sessions:msg:<id>`, the stream's name as hash tag so both keys live on one cluster slot) for
//! `DEDUPE_SECS`. An attempt retried after its answer was lost (the entry written, the connection dropped) finds
//! that key and appends nothing.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::followup::{Followup, FollowupContext, FollowupError, Occurrence, options};
use super::message::Message;
use super::receivers::redacted;
use crate::domain::Secret;
use crate::domain::job::FollowupKind;

/// How long a message id is remembered: longer than every retry of a job (`worker.max_attempts` backing off up to
/// `worker.backoff_max_secs` is 12 hours by default).
const DEDUPE_SECS: u64 = 7 * 24 * 3600;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// KEYS: the stream, the message id's key. ARGV: how long to remember the id, `max_len` (0: no trimming), then the
/// entry's fields and values. Returns the entry's id, the earlier one for a message appended before.
const APPEND_ONCE: &str = r"
local seen = redis.call('GET', KEYS[2])
if seen then return seen end
local id
if tonumber(ARGV[2]) > 0 then
    id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
    id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'EX', ARGV[1])
return id
";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Options {
    /// `redis://[:password@]host:6379[/db]` (or `rediss://`): a secret when it holds a password.
    url: Secret,
    stream: String,
    /// Trims the stream to about this many entries (`MAXLEN ~`); none: never trimmed.
    #[serde(default)]
    max_len: Option<u64>,
}

pub struct RedisFollowup {
    name: String,
    client: redis::Client,
    shown: String,
    stream: String,
    max_len: u64,
    script: redis::Script,
    /// The connection in use; `None` until the first attempt and after a failure.
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl RedisFollowup {
    pub fn from_options(name: String, raw: &Map<String, Value>) -> Result<Arc<dyn Followup>, String> {
        let options: Options = options(raw)?;
        let parsed = url::Url::parse(options.url.expose())
            .map_err(|_| "url must be a Redis URL such as redis://127.0.0.1:6379".to_owned())?;
        if !matches!(parsed.scheme(), "redis" | "rediss") {
            return Err("url must start with redis:// or rediss://".to_owned());
        }
        let client =
            redis::Client::open(options.url.expose()).map_err(|_| "url is not a usable Redis URL".to_owned())?;
        let stream = options.stream.trim().to_owned();
        if stream.is_empty() {
            return Err("stream must name a stream".to_owned());
        }
        if options.max_len == Some(0) {
            return Err("max_len must be above 0 (leave it out to never trim)".to_owned());
        }
        Ok(Arc::new(Self {
            name,
            client,
            shown: redacted(&parsed),
            stream,
            max_len: options.max_len.unwrap_or(0),
            script: redis::Script::new(APPEND_ONCE),
            connection: Mutex::new(None),
        }))
    }

    async fn connection(&self) -> Result<MultiplexedConnection, FollowupError> {
        let mut held = self.connection.lock().await;
        if let Some(connection) = held.as_ref() {
            return Ok(connection.clone());
        }
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| FollowupError::retry(e, format!("connecting to {}", self.shown)))?;
        *held = Some(connection.clone());
        Ok(connection)
    }

    /// The key that remembers a message id, on the stream's cluster slot.
    fn dedupe_key(&self, message_id: &str) -> String {
        format!("{{{}}}:rtk-sessions:msg:{message_id}", self.stream)
    }
}

#[async_trait::async_trait]
impl Followup for RedisFollowup {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> FollowupKind {
        FollowupKind::Redis
    }

    fn target(&self) -> String {
        format!("{} stream {}", self.shown, self.stream)
    }

    async fn run(&self, occurrence: &Occurrence, context: &FollowupContext) -> Result<(), FollowupError> {
        let message = Message::new(occurrence, &context.job, &context.event_source)?;
        let mut connection = self.connection().await?;
        let mut invocation = self.script.key(&self.stream);
        invocation
            .key(self.dedupe_key(&message.id))
            .arg(DEDUPE_SECS)
            .arg(self.max_len);
        for (name, value) in message.headers() {
            invocation.arg(name).arg(value);
        }
        invocation.arg("body").arg(message.body.as_slice());
        let appended: Result<String, _> = invocation.invoke_async(&mut connection).await;
        match appended {
            Ok(_entry_id) => Ok(()),
            Err(error) => {
                if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
                    self.connection.lock().await.take();
                }
                Err(FollowupError::retry(
                    error,
                    format!("appending to {} on {}", self.stream, self.shown),
                ))
            }
        }
    }
}
