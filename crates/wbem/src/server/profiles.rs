//! Registered profiles (DSP1033): what the interop namespace advertises and
//! where each profile's central instances live.

/// DMTF's value for `RegisteredOrganization`.
pub const ORG_DMTF: u16 = 2;
/// `RegisteredOrganization` = Other; the name goes in `OtherRegisteredOrganization`.
pub const ORG_OTHER: u16 = 1;

/// One registered profile.
#[derive(Clone, Debug)]
pub struct ProfileSpec {
    /// `CIM_RegisteredProfile.InstanceID`, unique in the object manager.
    pub instance_id: String,
    pub organization: u16,
    pub other_organization: Option<String>,
    pub name: String,
    pub version: String,
    /// Classes whose instances conform to the profile (its central class),
    /// as (namespace, class). Every instance of them is linked to the
    /// profile by CIM_ElementConformsToProfile.
    pub central: Vec<(String, String)>,
    /// Profiles this one references (their InstanceIDs), linked by
    /// CIM_ReferencedProfile: this profile is the Dependent, they are the
    /// Antecedents.
    pub references: Vec<String>,
}

impl ProfileSpec {
    /// A DMTF profile.
    pub fn dmtf(instance_id: &str, name: &str, version: &str) -> Self {
        ProfileSpec {
            instance_id: instance_id.into(),
            organization: ORG_DMTF,
            other_organization: None,
            name: name.into(),
            version: version.into(),
            central: Vec::new(),
            references: Vec::new(),
        }
    }

    /// Declares the central class (builder style).
    pub fn central(mut self, ns: &str, class: &str) -> Self {
        self.central.push((ns.into(), class.into()));
        self
    }

    /// Declares a referenced profile (builder style).
    pub fn references(mut self, instance_id: &str) -> Self {
        self.references.push(instance_id.into());
        self
    }
}

/// The profiles an object manager advertises.
#[derive(Clone, Debug, Default)]
pub struct ProfileTable {
    pub profiles: Vec<ProfileSpec>,
}

impl ProfileTable {
    /// Adds a profile.
    pub fn add(&mut self, p: ProfileSpec) {
        self.profiles.push(p);
    }

    /// The profile with `instance_id`.
    pub fn get(&self, instance_id: &str) -> Option<&ProfileSpec> {
        self.profiles.iter().find(|p| p.instance_id == instance_id)
    }
}
