//! The interactions access rules name; the typed request lives in the model.
pub use crate::model::interaction::{Interaction, Kind, Target, ALL};
