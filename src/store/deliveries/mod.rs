//! Recording verified deliveries: one at a time, or many in one statement (group commit). Either way a delivery is
//! committed before its answer, and its rows (the delivery; for a new `meeting.ended` the session and its
//! follow-up jobs) are written together or not at all.

mod batch;
mod outcome;
mod read;
mod record;
mod replay;

pub use batch::record_batch;
pub use outcome::{Outcome, VerifiedDelivery};
pub use read::{
    DeliveryFilter, DeliverySummary, StoredBody, StoredDelivery, foreign_apps_since, get, hourly_counts_since, kept_as,
    last_received, list,
};
pub use record::record;
pub use replay::{Replayed, replay};
