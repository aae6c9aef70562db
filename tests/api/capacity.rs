//! Nothing unauthenticated takes the capacity that verified deliveries need: strangers holding console sign-ins
//! open, over HTTP/1.1 or as HTTP/2 streams that never end, hold a connection at most, and deliveries keep being
//! answered 200 at once.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// Small pools, so that a few held requests would exhaust them if they took any.
async fn small_app() -> TestApp {
    spawn_app_with(|s| {
        s.server.max_in_flight = std::num::NonZero::new(8).expect("above 0");
        s.server.api_max_in_flight = std::num::NonZero::new(8).expect("above 0");
        s.server.max_connections = std::num::NonZero::new(512).expect("above 0");
    })
    .await
}

/// Ten signed deliveries, one after another: each must be stored, within a second.
async fn deliveries_still_answer(app: &TestApp) {
    for _ in 0..10 {
        let started = Instant::now();
        let response = app.deliver(&app.meeting_ended()).await;
        assert_eq!(response.status(), 200, "{:?}", response.text().await);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered in {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn held_sign_ins_over_http1_take_no_capacity_from_deliveries() {
    let app = small_app().await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    let mut held = Vec::new();
    for _ in 0..64 {
        let mut stream = TcpStream::connect(format!("127.0.0.1:{port}")).await.expect("connect");
        let head = "POST /console/sign-in HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                    Content-Length: 10000\r\n\r\n";
        stream.write_all(head.as_bytes()).await.expect("write");
        held.push(stream);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    deliveries_still_answer(&app).await;
    let (status, _) = crate::helpers::status_and_json(app.get_authorized("/sessions").await).await;
    assert_eq!(status, 200, "the API has capacity of its own too");
    drop(held);
}

#[tokio::test]
async fn held_h2c_streams_take_no_capacity_from_deliveries() {
    let app = small_app().await;
    let port = app.address.rsplit(':').next().expect("a port").to_owned();
    let mut connections = Vec::new();
    let mut streams = Vec::new();
    for _ in 0..4 {
        let tcp = TcpStream::connect(format!("127.0.0.1:{port}")).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .expect("h2c handshake");
        connections.push(tokio::spawn(connection));
        for _ in 0..16 {
            // A body that never ends: no END_STREAM, ever.
            let body = StreamBody::new(futures_util::stream::pending::<Result<Frame<Bytes>, std::io::Error>>());
            let request = hyper::Request::post(format!("http://127.0.0.1:{port}/console/sign-in"))
                .header("content-type", "application/x-www-form-urlencoded")
                .header("content-length", "10000")
                .body(body)
                .expect("a request");
            sender.ready().await.expect("ready");
            streams.push(tokio::spawn(sender.send_request(request)));
        }
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    deliveries_still_answer(&app).await;
    // The held streams end with the body deadline, each on its own.
    for stream in streams {
        let answer = tokio::time::timeout(Duration::from_secs(15), stream)
            .await
            .expect("the stream ends");
        if let Ok(Ok(response)) = answer {
            assert_eq!(response.status(), 408);
        }
    }
    drop(connections);
}
