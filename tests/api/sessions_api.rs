//! `/sessions` and `/sessions/{id}`: authentication, each filter, and clear errors for bad queries.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use crate::helpers::{API_TOKEN, TestApp, spawn_app, spawn_app_with, status_and_json};

/// Records a session through the receiver, as RealtimeKit would.
pub async fn record_session(
    app: &TestApp,
    session_id: &str,
    meeting_id: &str,
    organization_id: &str,
    reason: &str,
    ended_at: DateTime<Utc>,
) {
    let body = json!({
        "event": "meeting.ended",
        "meeting": {
            "id": meeting_id,
            "sessionId": session_id,
            "title": format!("Meeting {meeting_id}"),
            "status": "LIVE",
            "startedAt": (ended_at - Duration::minutes(10)).to_rfc3339(),
            "endedAt": ended_at.to_rfc3339(),
            "organizedBy": {"id": organization_id, "name": "Org"}
        },
        "reason": reason
    });
    let response = app.deliver(&app.signed(serde_json::to_vec(&body).expect("json"))).await;
    assert_eq!(response.status(), 200);
}

fn ids(page: &Value) -> Vec<String> {
    page["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|s| s["session_id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn sessions_require_a_configured_bearer_token() {
    let app = spawn_app().await;
    for (case, authorization) in [
        ("no header", None),
        ("wrong token", Some(format!("Bearer {API_TOKEN}x"))),
        ("wrong scheme", Some(format!("Basic {API_TOKEN}"))),
    ] {
        for path in ["/sessions", "/sessions/some-id"] {
            let mut request = app.http.get(format!("{}{path}", app.address));
            if let Some(value) = &authorization {
                request = request.header("authorization", value);
            }
            let response = request.send().await.expect("answers");
            assert_eq!(response.status(), 401, "{case} {path}");
            assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
            let (_, error) = status_and_json(response).await;
            assert_eq!(error["error"]["code"], "unauthorized");
        }
    }
    assert_eq!(app.get_sessions("").await.status(), 200);
    let lowercase_scheme = app
        .http
        .get(format!("{}/sessions", app.address))
        .header("authorization", format!("bearer {API_TOKEN}"))
        .send()
        .await
        .expect("answers");
    assert_eq!(lowercase_scheme.status(), 200);
}

#[tokio::test]
async fn with_no_token_configured_sessions_answer_401_to_everyone() {
    let app = spawn_app_with(|s| s.api.tokens.clear()).await;
    let response = app.get_sessions("").await;
    assert_eq!(response.status(), 401);
    let (_, error) = status_and_json(response).await;
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("api.tokens"))
    );
}

#[tokio::test]
async fn an_unknown_session_is_a_404() {
    let app = spawn_app().await;
    let (status, error) = status_and_json(app.get_session("no-such-session").await).await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["code"], "not_found");
}

#[tokio::test]
async fn each_filter_selects_exactly_its_sessions_newest_ended_first() {
    let app = spawn_app().await;
    let t0 = DateTime::parse_from_rfc3339("2026-06-03T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let rows = [
        ("s1", "m1", "o1", "HOST_ENDED_MEETING", 1),
        ("s2", "m1", "o1", "ALL_PARTICIPANTS_LEFT", 2),
        ("s3", "m2", "o1", "ALL_PARTICIPANTS_LEFT", 3),
        ("s4", "m3", "o2", "HOST_ENDED_MEETING", 4),
        ("s5", "m3", "o2", "SOMETHING_NEW", 5),
    ];
    for (session, meeting, org, reason, hours) in rows {
        record_session(&app, session, meeting, org, reason, t0 + Duration::hours(hours)).await;
    }

    let cases = [
        ("", vec!["s5", "s4", "s3", "s2", "s1"]),
        ("?meeting_id=m1", vec!["s2", "s1"]),
        ("?organization_id=o2", vec!["s5", "s4"]),
        ("?reason=HOST_ENDED_MEETING", vec!["s4", "s1"]),
        ("?reason=SOMETHING_NEW", vec!["s5"]),
        ("?ended_after=2026-06-03T13:00:00Z", vec!["s5", "s4", "s3"]),
        ("?ended_before=2026-06-03T13:00:00Z", vec!["s2", "s1"]),
        (
            "?ended_after=2026-06-03T12:00:00Z&ended_before=2026-06-03T14:00:00Z",
            vec!["s3", "s2"],
        ),
        ("?ended_after=2026-06-03T14:00:00%2B02:00", vec!["s5", "s4", "s3", "s2"]),
        ("?organization_id=o1&reason=ALL_PARTICIPANTS_LEFT", vec!["s3", "s2"]),
        ("?meeting_id=nope", vec![]),
        ("?meeting_id=", vec!["s5", "s4", "s3", "s2", "s1"]),
    ];
    for (query, expected) in cases {
        let (status, page) = status_and_json(app.get_sessions(query).await).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(ids(&page), expected, "{query}");
        assert_eq!(page["next_cursor"], Value::Null, "{query}");
    }
}

#[tokio::test]
async fn sessions_are_found_by_the_words_of_their_title_whatever_their_case() {
    let app = spawn_app().await;
    let t0 = DateTime::parse_from_rfc3339("2026-06-03T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    // s5 and s6 are later sessions of s1's meeting: s5 under the same title, s6 after the meeting was renamed.
    let titles = [
        ("s1", "m-s1", "Q3 Board Review"),
        ("s2", "m-s2", "board games night"),
        ("s3", "m-s3", "Weekly sync: 100% done_list in C:\\temp"),
        ("s4", "m-s4", "Review of the Q3 plan"),
        ("s5", "m-s1", "Q3 Board Review"),
        ("s6", "m-s1", "Q4 planning"),
    ];
    for (hours, (session, meeting, title)) in (1..).zip(titles) {
        let body = json!({
            "event": "meeting.ended",
            "meeting": {
                "id": meeting, "sessionId": session, "title": title, "status": "LIVE",
                "startedAt": (t0 + Duration::hours(hours) - Duration::minutes(5)).to_rfc3339(),
                "endedAt": (t0 + Duration::hours(hours)).to_rfc3339(),
                "organizedBy": {"id": "o1", "name": "Org"}
            },
            "reason": "HOST_ENDED_MEETING"
        });
        let response = app.deliver(&app.signed(serde_json::to_vec(&body).expect("json"))).await;
        assert_eq!(response.status(), 200);
    }
    let cases = [
        ("?title=board", vec!["s5", "s2", "s1"]),
        ("?title=BOARD%20review", vec!["s5", "s1"]),
        ("?title=review%20q3", vec!["s5", "s4", "s1"]),
        ("?title=%20%20q3%20%20", vec!["s5", "s4", "s1"]),
        ("?title=q4", vec!["s6"]),
        ("?title=q4%20board", vec![]),
        // The search's own % and _ are characters to find, not wildcards.
        ("?title=100%25", vec!["s3"]),
        ("?title=%25", vec!["s3"]),
        ("?title=e_l", vec!["s3"]),
        ("?title=d_l", vec![]),
        ("?title=c:%5Ctemp", vec!["s3"]),
        ("?title=%5Cx", vec![]),
        ("?title=retro", vec![]),
        ("?title=", vec!["s6", "s5", "s4", "s3", "s2", "s1"]),
        ("?title=board&meeting_id=m-s2", vec!["s2"]),
        ("?title=board&meeting_id=m-s1", vec!["s5", "s1"]),
    ];
    for (query, expected) in cases {
        let (status, page) = status_and_json(app.get_sessions(query).await).await;
        assert_eq!(status, 200, "{query}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    let (status, error) = status_and_json(app.get_sessions("?title=a%20b%20c%20d%20e%20f%20g%20h%20i").await).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["message"], "title has more than 8 words");
}

#[tokio::test]
async fn bad_queries_get_a_400_that_says_what_is_wrong() {
    let app = spawn_app().await;
    let cases = [
        ("?limit=0", "invalid_limit"),
        ("?limit=501", "invalid_limit"),
        ("?limit=ten", "invalid_limit"),
        ("?limit=-1", "invalid_limit"),
        ("?cursor=bogus", "invalid_cursor"),
        ("?ended_after=yesterday", "invalid_timestamp"),
        ("?ended_before=2026-13-01T00:00:00Z", "invalid_timestamp"),
        ("?meetingId=m1", "invalid_query"),
    ];
    for (query, code) in cases {
        let (status, error) = status_and_json(app.get_sessions(query).await).await;
        assert_eq!(status, 400, "{query}");
        assert_eq!(error["error"]["code"], code, "{query}");
        assert!(error["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for limit in ["1", "500"] {
        assert_eq!(app.get_sessions(&format!("?limit={limit}")).await.status(), 200);
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_shape() {
    let app = spawn_app().await;
    let (status, error) = status_and_json(app.get_authorized("/nope").await).await;
    assert_eq!((status, error["error"]["code"].as_str()), (404, Some("not_found")));
    let response = app.http.get(app.webhook_url()).send().await.expect("answers");
    let (status, error) = status_and_json(response).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );
}
