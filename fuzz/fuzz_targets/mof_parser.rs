//! Fuzzes the MOF compiler: any UTF-8 text must compile or fail with a
//! `MofError`, never panic, and a failed compile leaves the repository as
//! it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vine_cim::mof::compile_str;
use vine_cim::Repository;

/// Qualifiers most MOF uses, so that inputs reach class and instance
/// compilation instead of stopping at "qualifier not declared".
const PRELUDE: &str = r#"
Qualifier Key : boolean = false, Scope(property, reference), Flavor(DisableOverride, ToSubclass);
Qualifier Association : boolean = false, Scope(association), Flavor(DisableOverride, ToSubclass);
Qualifier Indication : boolean = false, Scope(class, indication), Flavor(DisableOverride, ToSubclass);
Qualifier Abstract : boolean = false, Scope(class, association, indication), Flavor(Restricted);
Qualifier Description : string = null, Scope(any), Flavor(Translatable);
Qualifier ValueMap : string[], Scope(property, method, parameter);
Qualifier Override : string = null, Scope(property, reference, method), Flavor(Restricted);
Qualifier In : boolean = true, Scope(parameter), Flavor(DisableOverride);
Qualifier Out : boolean = false, Scope(parameter), Flavor(DisableOverride);
"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut repo = Repository::new();
    if compile_str(&mut repo, "root/fuzz", "prelude.mof", PRELUDE).is_err() {
        return;
    }
    let before = repo.class_names("root/fuzz", None, true).ok();
    if compile_str(&mut repo, "root/fuzz", "fuzz.mof", text).is_err() {
        assert_eq!(repo.class_names("root/fuzz", None, true).ok(), before);
    }
});
