//! Host jobs: drain (move every VM away).

use std::sync::Arc;

use crate::jobs::JobHandler;

use super::Services;

/// The handlers of the `host.*` kinds.
pub(crate) fn handlers(_s: &Arc<Services>) -> Vec<Arc<dyn JobHandler>> {
    Vec::new()
}
