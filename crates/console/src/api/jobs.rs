use vine_coordinator::ops::Coordinator;

use super::{no_route, Reply, Req, Spec};

pub(crate) async fn route(_c: &Coordinator, req: &Req<'_>) -> Reply {
    Err(no_route(&req.segs))
}

pub(crate) fn spec() -> Spec {
    Spec::default()
}
