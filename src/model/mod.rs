//! Plain shared types at the bottom of the layers.
pub mod interaction;
pub mod tenant;
