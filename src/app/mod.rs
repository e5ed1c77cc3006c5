//! (temporary until the app/ split lands)
pub mod speed;
pub use crate::explore;
