//! Everything that speaks RealtimeKit's language: its webhook signature scheme and its public key.

pub mod public_key;
pub mod signature;
