//! libvirt's event loop (one per process) and the domain lifecycle
//! callback that forwards events into a broadcast channel.

use std::ffi::{c_void, CStr};
use std::os::raw::{c_char, c_int};
use std::sync::OnceLock;

use tokio::sync::broadcast;
use virt::connect::Connect;
use virt::sys;

use crate::error::{HvError, HvResult};
use crate::types::{DomainEvent, DomainEventKind};

static EVENT_LOOP: OnceLock<Result<(), String>> = OnceLock::new();

/// Registers libvirt's default event implementation and runs it in a
/// dedicated thread, once per process. Must happen before connections
/// are opened, or they cannot deliver events.
pub(crate) fn ensure_event_loop() -> HvResult<()> {
    let started = EVENT_LOOP.get_or_init(|| {
        // libvirt prints every error to stderr by default; vine reports
        // them through HvError instead.
        virt::error::clear_error_callback();
        virt::event::event_register_default_impl()
            .map_err(|e| format!("cannot register libvirt's event loop: {e}"))?;
        std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| loop {
                if let Err(e) = virt::event::event_run_default_impl() {
                    tracing::warn!(error = %e, "libvirt event loop iteration failed");
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            })
            .map_err(|e| format!("cannot start the libvirt event thread: {e}"))?;
        Ok(())
    });
    started.clone().map_err(|message| HvError::Connect {
        uri: String::new(),
        message,
    })
}

/// The C signature of a lifecycle callback; libvirt takes it through the
/// generic callback type.
type LifecycleFn =
    unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, c_int, c_int, *mut c_void) -> c_int;

/// Registers the lifecycle callback on `conn`; returns libvirt's callback
/// id for deregistration.
pub(crate) fn register_lifecycle(
    conn: &Connect,
    tx: broadcast::Sender<DomainEvent>,
) -> Result<c_int, virt::error::Error> {
    let opaque = Box::into_raw(Box::new(tx)) as *mut c_void;
    // SAFETY: libvirt calls the callback with the lifecycle signature for
    // VIR_DOMAIN_EVENT_ID_LIFECYCLE; the generic type is only how the C
    // API passes it. `opaque` belongs to libvirt until `free_sender`.
    let rc = unsafe {
        let generic: unsafe extern "C" fn(sys::virConnectPtr, sys::virDomainPtr, *mut c_void) =
            std::mem::transmute::<LifecycleFn, _>(on_lifecycle as LifecycleFn);
        sys::virConnectDomainEventRegisterAny(
            conn.as_ptr(),
            std::ptr::null_mut(),
            sys::VIR_DOMAIN_EVENT_ID_LIFECYCLE as c_int,
            Some(generic),
            opaque,
            Some(free_sender),
        )
    };
    if rc < 0 {
        let err = virt::error::Error::last_error();
        // SAFETY: registration failed, so the box was not taken.
        unsafe { drop(Box::from_raw(opaque as *mut broadcast::Sender<DomainEvent>)) };
        return Err(err);
    }
    Ok(rc)
}

/// libvirt's event type number → what vine calls it.
pub(crate) fn event_kind(event: c_int) -> Option<DomainEventKind> {
    Some(match event as u32 {
        sys::VIR_DOMAIN_EVENT_DEFINED => DomainEventKind::Defined,
        sys::VIR_DOMAIN_EVENT_UNDEFINED => DomainEventKind::Undefined,
        sys::VIR_DOMAIN_EVENT_STARTED => DomainEventKind::Started,
        sys::VIR_DOMAIN_EVENT_SUSPENDED => DomainEventKind::Suspended,
        sys::VIR_DOMAIN_EVENT_RESUMED => DomainEventKind::Resumed,
        sys::VIR_DOMAIN_EVENT_STOPPED => DomainEventKind::Stopped,
        sys::VIR_DOMAIN_EVENT_SHUTDOWN => DomainEventKind::Shutdown,
        sys::VIR_DOMAIN_EVENT_PMSUSPENDED => DomainEventKind::PmSuspended,
        sys::VIR_DOMAIN_EVENT_CRASHED => DomainEventKind::Crashed,
        _ => return None,
    })
}

unsafe extern "C" fn on_lifecycle(
    _conn: sys::virConnectPtr,
    dom: sys::virDomainPtr,
    event: c_int,
    detail: c_int,
    opaque: *mut c_void,
) -> c_int {
    // SAFETY: `opaque` is the sender boxed at registration, alive until
    // `free_sender`; `dom` is valid for the duration of the callback and
    // the name it returns is owned by it.
    let tx = unsafe { &*(opaque as *const broadcast::Sender<DomainEvent>) };
    let Some(kind) = event_kind(event) else {
        return 0;
    };
    let name = unsafe {
        let p = sys::virDomainGetName(dom);
        if p.is_null() {
            return 0;
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let mut buf = [0 as c_char; sys::VIR_UUID_STRING_BUFLEN as usize];
    let uuid = unsafe {
        if sys::virDomainGetUUIDString(dom, buf.as_mut_ptr()) < 0 {
            String::new()
        } else {
            CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
        }
    };
    tracing::debug!(domain = %name, ?kind, detail, "libvirt lifecycle event");
    // No receivers is fine: nobody is listening yet.
    let _ = tx.send(DomainEvent {
        domain: name,
        uuid,
        kind,
        detail,
    });
    0
}

unsafe extern "C" fn free_sender(opaque: *mut c_void) {
    // SAFETY: see `register_lifecycle`.
    unsafe { drop(Box::from_raw(opaque as *mut broadcast::Sender<DomainEvent>)) };
}
