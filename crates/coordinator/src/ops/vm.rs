//! VM jobs: create (admission, placement, define, start), power, resize,
//! migrate, delete.

use std::sync::Arc;

use crate::jobs::JobHandler;

use super::Services;

/// The handlers of the `vm.*` kinds.
pub(crate) fn handlers(_s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    Vec::new()
}
