//! Host power through the agent (DMTF DSP1027 Power State Management):
//! whether the agent can power its host off, and asking it to.
//!
//! Power-on is not here: a host that is off has no agent to ask. The
//! manager wakes it by Wake-on-LAN or a BMC command (`crate::power`).

use vine_cim::{CimInstanceName, CimParamValue, CimStatus, CimValue};
use vine_wbem::client::EnumArgs;

use super::agent::{AgentConn, VniError};
use super::VIRT_NS;

/// DSP1027 PowerState 8, "Off - Soft".
pub const OFF_SOFT: u16 = 8;
/// DSP1027 PowerState 12, "Off - Soft Graceful": the OS shuts down
/// cleanly. What the manager asks for.
pub const OFF_SOFT_GRACEFUL: u16 = 12;

impl AgentConn {
    /// Whether the agent offers a power-off: its
    /// CIM_AssociatedPowerManagementService lists 8 or 12 among
    /// AvailableRequestedPowerStates. An agent without the DSP1027 classes
    /// (CIM_ERR_INVALID_CLASS, or none found) cannot.
    pub async fn can_power_off(&self) -> Result<bool, VniError> {
        let found = self
            .client
            .enumerate_instances(
                VIRT_NS,
                "CIM_AssociatedPowerManagementService",
                &EnumArgs::default(),
            )
            .await;
        let assocs = match found {
            Ok(a) => a,
            Err(e) if e.cim_status() == Some(CimStatus::InvalidClass) => return Ok(false),
            Err(e) => return Err(self.call_err(e)),
        };
        Ok(assocs.iter().any(|a| {
            matches!(a.get("AvailableRequestedPowerStates"), Some(CimValue::Array(states))
                if states.iter().any(|s| matches!(s.as_i128(), Some(8 | 12))))
        }))
    }

    /// Asks the agent to power its host off gracefully
    /// (RequestPowerStateChange(12) on its CIM_PowerManagementService, for
    /// its host system). `Ok` means the agent accepted: it runs its
    /// power-off command just after answering. A refusal (no command, guests
    /// running) is the agent's CIM error, with its message.
    pub async fn request_power_off(&self) -> Result<(), VniError> {
        let host = self.host().await?;
        let service = self.service("PowerManagementService").await?;
        let class = format!("{}_HostSystem", host.prefix);
        let element = CimInstanceName::new(class.as_str())
            .with_key("CreationClassName", class.as_str())
            .with_key("Name", host.name.as_str())
            .with_namespace(VIRT_NS);
        let params = vec![
            CimParamValue::new("PowerState", CimValue::Uint16(OFF_SOFT_GRACEFUL)),
            CimParamValue::new("ManagedElement", CimValue::Reference(Box::new(element))),
        ];
        self.invoke(service, "RequestPowerStateChange", params)
            .await
            .map(|_| ())
    }
}
