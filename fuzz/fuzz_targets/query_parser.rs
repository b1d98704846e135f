//! Fuzzes the WQL/CQL query parser: any text must parse or fail with a
//! `QueryError`, never panic; a parsed query must print to text that
//! parses back equal, and must evaluate and project without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vine_cim::{CimInstance, CimInstanceName};
use vine_wbem::query::{parse, QueryLanguage};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for lang in [QueryLanguage::Wql, QueryLanguage::Cql] {
        let Ok(query) = parse(lang, text) else {
            continue;
        };
        let printed = query.to_string();
        assert_eq!(parse(lang, &printed).as_ref(), Ok(&query), "{printed}");
        // An instance with the property kinds comparisons treat specially.
        let inst = CimInstance::new("CIM_System")
            .with("Name", "a")
            .with("EnabledState", 2u16)
            .with("OperationalStatus", vec![2u16, 5])
            .with("Load", 0.5f32)
            .with("Host", CimInstanceName::new("CIM_System").with_key("Name", "h"));
        query.matches(&inst, &|class, ancestor| class.len() < ancestor.len());
        query.project(inst);
        let _ = query.referenced_properties();
    }
});
