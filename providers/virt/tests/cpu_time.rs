//! CPU time through CIM on libvirt's test driver: the processor RASD's
//! CPUReservation is admitted against the host's cores and kept with the
//! domain; a CPULimit below 100 % is refused as not supported by the test
//! driver (its scheduler has no CFS quota), and a refused request changes
//! nothing.

mod vm_support;

use vine_cim::{CimInstance, CimParamValue, CimStatus, CimValue};
use vine_hypervisor::Hypervisor;
use vm_support::*;

async fn define(a: &Agent, name: &str, vcpus: u64) {
    let p = a.ctx.prefix.clone();
    let r = a
        .vsms_call(
            "DefineSystem",
            define_params(
                vssd(&p, name),
                vec![proc_rasd(&p, vcpus, 4), mem_rasd(&p, 256, 256)],
            ),
        )
        .await
        .unwrap_or_else(|e| panic!("DefineSystem {name}: {e}"));
    assert_eq!(rc(&r), 0);
}

/// ModifyResourceSettings with one processor RASD of `dom` giving `props`.
async fn modify(
    a: &Agent,
    dom: &str,
    props: &[(&str, u64)],
) -> Result<u32, vine_wbem::client::ClientError> {
    let mut r = CimInstance::new(a.class("ProcResourceAllocationSettingData"))
        .with("InstanceID", format!("{dom}/proc"));
    for (k, v) in props {
        r = r.with(*k, CimValue::Uint32(*v as u32));
    }
    let params = vec![CimParamValue::new(
        "ResourceSettings",
        CimValue::Array(vec![CimValue::from(r)]),
    )];
    a.vsms_call("ModifyResourceSettings", params)
        .await
        .map(|r| rc(&r))
}

fn reservation(h: &Host, dom: &str) -> Option<u32> {
    h.hv.cpu_time(dom).unwrap().reservation_pct
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_are_admitted_against_the_hosts_cores_and_kept() {
    // 8 cores: 800 % of CPU time to reserve.
    let h = host("cpu-time-a");
    let a = agent(h.hv.clone(), "KVM", "cpu-time-a").await;
    define(&a, "a", 2).await;
    define(&a, "b", 4).await;
    define(&a, "c", 1).await;
    h.hv.start("b").unwrap();

    // a: 2 × 100 %, b (running): 4 × 100 % → 600 %.
    assert_eq!(
        modify(&a, "a", &[("CPUReservation", 100)]).await.unwrap(),
        0
    );
    assert_eq!(
        modify(&a, "b", &[("CPUReservation", 100)]).await.unwrap(),
        0
    );
    assert_eq!(reservation(&h, "a"), Some(100));
    assert_eq!(reservation(&h, "b"), Some(100));
    // More vCPUs for a VM with a reservation take room too: a at 4 → 800 %.
    assert_eq!(modify(&a, "a", &[("VirtualQuantity", 4)]).await.unwrap(), 0);
    assert_eq!(h.hv.domain("a").unwrap().vcpus, 4);

    // The host is full: even 1 % more is refused, saying why, and nothing
    // is recorded.
    let e = modify(&a, "c", &[("CPUReservation", 1)]).await.unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::Failed), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("CPU reservation refused")
            && msg.contains("8 cores give 800%")
            && msg.contains("reserve 800%")
            && msg.contains("lower CPUReservation"),
        "{msg}"
    );
    assert_eq!(reservation(&h, "c"), None);

    // a gives some back (4 × 50 % = 200 %); c fits now.
    assert_eq!(modify(&a, "a", &[("CPUReservation", 50)]).await.unwrap(), 0);
    assert_eq!(
        modify(&a, "c", &[("CPUReservation", 100)]).await.unwrap(),
        0
    );
    // 700 % taken: a at 100 % fits with 2 vCPUs (200 %), not with 4
    // (400 %); refused, its reservation and vCPUs stay as they were.
    let e = modify(&a, "a", &[("CPUReservation", 100), ("VirtualQuantity", 4)])
        .await
        .unwrap_err();
    assert_eq!(e.cim_status(), Some(CimStatus::Failed), "{e}");
    assert_eq!(reservation(&h, "a"), Some(50));
    assert_eq!(h.hv.domain("a").unwrap().vcpus, 4);
    assert_eq!(
        modify(&a, "a", &[("CPUReservation", 100), ("VirtualQuantity", 2)])
            .await
            .unwrap(),
        0
    );
    assert_eq!(reservation(&h, "a"), Some(100));
    assert_eq!(h.hv.domain("a").unwrap().vcpus, 2);

    // The RASDs report it, enumerated and read one by one.
    let procs = a.enumerate("ProcResourceAllocationSettingData").await;
    let of = |dom: &str| {
        procs
            .iter()
            .find(|p| p.get_str("InstanceID") == Some(&format!("{dom}/proc")))
            .unwrap_or_else(|| panic!("no processor RASD of {dom}"))
            .clone()
    };
    assert_eq!(u64_of(&of("a"), "CPUReservation"), 100);
    assert_eq!(u64_of(&of("c"), "CPUReservation"), 100);
    assert_eq!(u64_of(&of("a"), "Limit"), 4, "Limit still counts vCPUs");
    assert!(of("a").get("CPULimit").is_none(), "no quota, none shown");
    let one = a.get(of("b").path.as_ref().unwrap()).await.unwrap();
    assert_eq!(u64_of(&one, "CPUReservation"), 100);

    // 0 takes a reservation back.
    assert_eq!(modify(&a, "b", &[("CPUReservation", 0)]).await.unwrap(), 0);
    assert_eq!(reservation(&h, "b"), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cpu_limit_is_not_supported_by_the_test_driver_and_changes_nothing() {
    let h = host("cpu-time-b");
    let a = agent(h.hv.clone(), "KVM", "cpu-time-b").await;
    define(&a, "w", 2).await;
    h.hv.start("w").unwrap();
    for props in [
        &[("CPULimit", 50)][..],
        &[
            ("CPULimit", 50),
            ("CPUReservation", 20),
            ("VirtualQuantity", 3),
        ][..],
    ] {
        let e = modify(&a, "w", props).await.unwrap_err();
        assert_eq!(e.cim_status(), Some(CimStatus::NotSupported), "{e}");
        assert!(
            e.to_string()
                .contains("not supported by the test driver: a CPU limit"),
            "{e}"
        );
    }
    assert_eq!(reservation(&h, "w"), None, "nothing recorded");
    assert_eq!(h.hv.domain("w").unwrap().vcpus, 2, "nothing changed");
    // No cap is what the test driver's scheduler has already.
    assert_eq!(modify(&a, "w", &[("CPULimit", 100)]).await.unwrap(), 0);

    for (props, says) in [
        (
            &[("CPULimit", 0)][..],
            "CPULimit 0 is out of range: give 1 to 100",
        ),
        (
            &[("CPULimit", 101)][..],
            "CPULimit 101 is out of range: give 1 to 100",
        ),
        (
            &[("CPUReservation", 101)][..],
            "CPUReservation 101 is out of range: give 0 to 100",
        ),
    ] {
        let e = modify(&a, "w", props).await.unwrap_err();
        assert_eq!(
            e.cim_status(),
            Some(CimStatus::InvalidParameter),
            "{props:?}: {e}"
        );
        assert!(e.to_string().contains(says), "{e}");
    }
}
