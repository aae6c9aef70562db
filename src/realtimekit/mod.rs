//! Everything that speaks RealtimeKit's language: its webhook signature scheme and its public key.

pub mod client;
pub mod end_meeting;
pub mod public_key;
pub mod registration;
pub mod signature;
