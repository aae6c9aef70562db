//! The rest of what a stranger can send: a request id of their own, a path that is not UTF-8, a cursor this API
//! never handed out; and what the API sends back of a stranger's bytes.

use crate::helpers::{API_TOKEN, spawn_app, status_and_json};

#[tokio::test]
async fn a_clients_request_id_is_kept_only_when_short_and_printable() {
    let app = spawn_app().await;
    let send = |id: &'static str| {
        let (http, url) = (app.http.clone(), format!("{}/healthz", app.address));
        async move {
            let response = http.get(url).header("x-request-id", id).send().await.expect("answers");
            response.headers()["x-request-id"].to_str().expect("text").to_owned()
        }
    };
    assert_eq!(send("trace-42").await, "trace-42");
    let long = send(Box::leak("x".repeat(300).into_boxed_str())).await;
    assert_ne!(long.len(), 300, "a long id is replaced by the service's own");
    let spaced = send("has spaces in it").await;
    assert_ne!(spaced, "has spaces in it");
}

#[tokio::test]
async fn a_path_that_is_not_utf8_gets_the_json_error_shape() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(format!("{}/sessions/%FF%FE", app.address))
        .bearer_auth(API_TOKEN)
        .send()
        .await
        .expect("answers");
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_path")),
        "{body}"
    );
}

#[tokio::test]
async fn follow_up_lists_refuse_cursors_they_did_not_hand_out() {
    let app = spawn_app().await;
    for cursor in ["12", "-5", "+3", "bogus", "ajE6LTU"] {
        let (status, body) = status_and_json(app.get_authorized(&format!("/followups?cursor={cursor}")).await).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("invalid_cursor")),
            "{cursor}: {body}"
        );
    }
}

#[tokio::test]
async fn a_deliverys_raw_body_is_sent_as_inert_bytes() {
    let app = spawn_app().await;
    let delivery = app.signed(b"<html><script>alert(1)</script></html>".to_vec());
    assert_eq!(app.deliver(&delivery).await.status(), 200);
    let response = app
        .get_authorized(&format!("/deliveries/{}?raw=true", delivery.delivery_id))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .expect("text")
        .to_owned();
    assert!(
        policy.contains("default-src 'none'") && policy.contains("sandbox"),
        "{policy}"
    );
}

/// OPTIONS is a 405 with `Allow` for any valid token; another method a route does not serve is a 405 for a token
/// whose scope allows the method, and a 403 for one whose scope does not; without a token, a 401.
#[tokio::test]
async fn an_unserved_method_is_a_405_and_scopes_hold_for_the_others() {
    use reqwest::Method;

    use crate::helpers::READ_TOKEN;

    let app = spawn_app().await;
    let send = |method: Method, path: &str, token: Option<&str>| {
        let mut request = app.http.request(method, format!("{}{path}", app.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let cases = [
        (Method::OPTIONS, "/sessions", 405, 405),
        (Method::GET, "/followups/1/retry", 405, 405),
        (Method::DELETE, "/sessions", 403, 405),
        (Method::POST, "/sessions", 403, 405),
        (Method::POST, "/followups/1/retry", 403, 404),
    ];
    for (method, path, as_reader, as_operator) in cases {
        for (token, expected) in [(READ_TOKEN, as_reader), (API_TOKEN, as_operator)] {
            let answer = send(method.clone(), path, Some(token)).await.expect("answer");
            assert_eq!(answer.status(), expected, "{method} {path} with {token}");
            if expected == 405 {
                assert!(answer.headers().contains_key("allow"), "{method} {path}: Allow");
            }
        }
        let anonymous = send(method.clone(), path, None).await.expect("answer");
        assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
    }
}
