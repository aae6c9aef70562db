//! What leaves the service carries a stranger's text only as text: Slack gets no markup from a title or a name, and
//! an id never leaves its path segment in a call to Cloudflare.

use rtk_sessions::{FollowupKind, FollowupSettings};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::cloudflare_fake::{APP, FakeCloudflare};
use crate::helpers::{API_TOKEN, spawn_app_with, status_and_json};

#[tokio::test]
async fn slack_shows_a_hostile_title_and_reason_as_plain_text() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/slack"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let app = spawn_app_with(|s| {
        s.worker.enabled = false;
        s.followups = vec![FollowupSettings::new(
            FollowupKind::Slack,
            json!({"url": format!("{}/slack", receiver.uri())})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        )];
    })
    .await;
    let title = "<!channel> <https://evil.example/login|Open the recording> & more";
    let body = json!({"event": "meeting.ended", "reason": "<@U123> was here", "meeting": {
        "id": "m", "sessionId": "s-slack", "title": title, "endedAt": "2026-06-03T10:30:00Z",
        "organizedBy": {"id": APP}}});
    let response = app.deliver(&app.signed(body.to_string().into_bytes())).await;
    assert_eq!(response.status(), 200);
    app.run_pending_jobs().await;
    let requests = receiver.received_requests().await.expect("recorded");
    let posted: Value = serde_json::from_slice(&requests[0].body).expect("json");
    let text = posted["text"].as_str().expect("text");
    assert!(
        !text.contains('<') && !text.contains('>'),
        "no Slack markup from the delivery: {text}"
    );
    assert!(
        text.contains("&lt;!channel&gt; &lt;https://evil.example/login|Open the recording&gt; &amp; more"),
        "{text}"
    );
    assert!(text.contains("&lt;@U123&gt; was here"), "{text}");
}

#[tokio::test]
async fn dot_segments_never_reach_cloudflare() {
    let fake = FakeCloudflare::start().await;
    let app = spawn_app_with(|s| {
        fake.configure(s);
        s.registration.enabled = false;
    })
    .await;
    for meeting in ["%2E%2E", "%2e", ".."] {
        let response = app
            .http
            .post(format!("{}/meetings/{meeting}/end", app.address))
            .bearer_auth(API_TOKEN)
            .send()
            .await
            .expect("answers");
        let status = response.status().as_u16();
        assert!(status == 400 || status == 404, "{meeting}: {status}");
    }
    // A delivery whose session id is `..` is kept, unusable, and nothing is called for it.
    let body = json!({"event": "meeting.ended", "meeting": {"id": "m", "sessionId": "..",
        "endedAt": "2026-06-03T10:30:00Z", "organizedBy": {"id": APP}}});
    let (status, ack) = status_and_json(app.deliver(&app.signed(body.to_string().into_bytes())).await).await;
    assert_eq!((status, ack["outcome"].as_str()), (200, Some("unprocessable")), "{ack}");
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
}
