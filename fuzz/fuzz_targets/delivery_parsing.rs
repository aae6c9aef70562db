//! Throws arbitrary bytes at what the receiver does with a request before and after verification: decoding the
//! `rtk-signature` header, choosing the delivery id, and parsing and classifying the body. Nothing may panic, and a
//! body is always kept exactly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rtk_sessions::{Classified, DeliveryBody, DeliveryId, classify};
use rtk_sessions::decode_signature_header;

fuzz_target!(|data: &[u8]| {
    let _ = decode_signature_header(data);
    let body = DeliveryBody::new(bytes::Bytes::copy_from_slice(data));
    assert_eq!(body.bytes(), data, "a body is kept exactly");
    let _ = DeliveryId::from_header_or_body(std::str::from_utf8(data).ok(), &body);

    let json: Option<serde_json::Value> = serde_json::from_slice(data).ok();
    if let Classified::EndedSession(session) = classify(json.as_ref()) {
        assert!(!session.session_id.is_empty() && !session.session_id.contains('\0'));
        assert!(!session.meeting_id.is_empty() && !session.meeting_id.contains('\0'));
    }
});
