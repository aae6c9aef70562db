//! Console sessions live on the server: a captured cookie stops working at sign-out, every session of a token can be
//! ended at once, a session lasts what the server granted, wrong tokens are throttled per address, and the status
//! banner shows only the console's own words.

use std::time::Duration;

use crate::console::ConsoleClient;
use crate::helpers::{API_TOKEN, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_captured_cookie_is_refused_after_sign_out_and_sign_out_everywhere_ends_every_session() {
    let app = spawn_app().await;
    let mut browser = ConsoleClient::new(&app.address);
    assert_eq!(browser.sign_in(API_TOKEN).await.status, 303);
    let captured = browser.cookies["rtk_console"].clone();
    let page = browser.get("/console").await;
    assert_eq!(page.status, 200);

    // Sign out: the cookie is dropped by the browser, and the server has ended the session too.
    let signed_out = browser.post("/console/sign-out", &[("csrf", &page.csrf())]).await;
    assert_eq!(signed_out.status, 303);
    let mut thief = ConsoleClient::new(&app.address);
    thief.cookies.insert("rtk_console".into(), captured);
    let refused = thief.get("/console").await;
    assert_eq!(refused.status, 303, "a captured cookie is refused after sign-out");
    assert!(refused.location().is_some_and(|l| l.starts_with("/console/sign-in")));
    let ended = thief.post("/console/meetings/end", &[("meeting_id", "m")]).await;
    assert_eq!(ended.status, 303, "and it cannot act either");

    // Two browsers of one token; "sign out everywhere" from one ends both.
    let (mut laptop, mut phone) = (ConsoleClient::new(&app.address), ConsoleClient::new(&app.address));
    laptop.sign_in(API_TOKEN).await;
    phone.sign_in(API_TOKEN).await;
    assert_eq!(phone.get("/console").await.status, 200);
    let page = laptop.get("/console").await;
    assert!(page.body.contains("Sign out everywhere"));
    let everywhere = laptop
        .post("/console/sign-out-everywhere", &[("csrf", &page.csrf())])
        .await;
    assert_eq!(everywhere.status, 303);
    assert_eq!(
        phone.get("/console").await.status,
        303,
        "the other browser is signed out too"
    );
    let live: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions WHERE ended_at IS NULL")
        .fetch_one(&app.db)
        .await
        .expect("count");
    assert_eq!(live, 0);
}

#[tokio::test]
async fn a_session_lasts_what_the_server_granted_whatever_the_cookie_says() {
    let app = spawn_app_with(|s| s.console.session_ttl = Duration::from_secs(3600)).await;
    let mut browser = ConsoleClient::new(&app.address);
    browser.sign_in(API_TOKEN).await;
    assert_eq!(browser.get("/console").await.status, 200);
    // The cookie carries no expiry to trust; the server's record of when it began does. Age it past the TTL.
    sqlx::query("UPDATE console_sessions SET created_at = now() - interval '2 hours'")
        .execute(&app.db)
        .await
        .expect("age the session");
    assert_eq!(
        browser.get("/console").await.status,
        303,
        "a session older than console.session_ttl_secs is over, whatever its record or its cookie says"
    );
}

#[tokio::test]
async fn wrong_tokens_are_throttled_per_address_and_notices_are_codes_not_text() {
    let app = spawn_app().await;
    let mut guesser = ConsoleClient::new(&app.address);
    let mut statuses = Vec::new();
    for i in 0..7 {
        let answer = guesser
            .sign_in(&format!("wrong-token-{i}-0123456789abcdef0123456789"))
            .await;
        statuses.push(answer.status);
    }
    assert_eq!(statuses[..5], [401; 5]);
    assert_eq!(statuses[5..], [429; 2], "the sixth guess from this address is refused");
    // Even the right token waits out the window from this address: a guesser cannot tell a hit.
    let throttled = guesser.sign_in(API_TOKEN).await;
    assert_eq!(throttled.status, 429);
    assert!(throttled.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn the_status_banner_shows_the_consoles_words_for_a_code_and_nothing_from_a_link() {
    let app = spawn_app().await;
    let mut browser = ConsoleClient::new(&app.address);
    assert_eq!(browser.sign_in(API_TOKEN).await.status, 303);
    let known = browser.get("/console/followups?notice=jobs_retried.3").await;
    assert!(known.body.contains("3 follow-ups are queued again."), "{}", known.body);
    let phishing = "Your session expired, sign in at https://evil.example";
    let encoded: String = url::form_urlencoded::byte_serialize(phishing.as_bytes()).collect();
    let page = browser.get(&format!("/console/followups?notice={encoded}")).await;
    assert_eq!(page.status, 200);
    assert!(
        !page.body.contains("evil.example"),
        "text from a link never reaches the banner"
    );
    assert!(!page.body.contains("role=\"status\""), "an unknown code shows nothing");
}
