//! The MOF compiler over a small tree of files on disk: includes relative
//! to the including file, the search path, namespaces and error positions
//! in included files.

use std::fs;
use std::path::PathBuf;

use vine_cim::mof::{compile, FsSource};
use vine_cim::{CimValue, Repository};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vine-mof-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.0.join(rel);
        fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
        fs::write(p, text).expect("write");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn tree(name: &str) -> TempDir {
    let t = TempDir::new(name);
    t.write(
        "qualifiers.mof",
        "Qualifier Key : boolean = false, Scope(property, reference),\n\
         \x20   Flavor(DisableOverride, ToSubclass);\n\
         Qualifier Association : boolean = false, Scope(association),\n\
         \x20   Flavor(DisableOverride, ToSubclass);\n\
         Qualifier Description : string = null, Scope(any), Flavor(Translatable);\n",
    );
    t.write(
        "schema/all.mof",
        "#pragma include (\"core/element.mof\")\n#pragma include (\"assoc.mof\")\n",
    );
    t.write(
        "schema/core/element.mof",
        "[Description(\"an element\")]\nclass T_Element {\n  [Key] string Id;\n};\n\
         class T_Host : T_Element { string Name; };\n",
    );
    t.write(
        "schema/assoc.mof",
        "[Association]\nclass T_Contains {\n  [Key] T_Host REF Parent;\n  [Key] T_Element REF Child;\n};\n",
    );
    t.write(
        "data.mof",
        "#pragma namespace (\"root/data\")\n\
         #pragma include (\"qualifiers.mof\")\n#pragma include (\"schema/all.mof\")\n\
         instance of T_Host as $h { Id = \"h1\"; Name = \"host one\"; };\n\
         instance of T_Element as $e { Id = \"e1\"; };\n\
         instance of T_Contains { Parent = $h; Child = $e; };\n",
    );
    t
}

#[test]
fn compiles_a_tree_with_includes() {
    let t = tree("ok");
    let src = FsSource::new(&t.0);
    let mut repo = Repository::new();
    let s = compile(&mut repo, "root/virt", "qualifiers.mof", &src).unwrap();
    assert_eq!(s.qualifier_decls, 3);
    let s = compile(&mut repo, "root/virt", "schema/all.mof", &src).unwrap();
    assert_eq!(s.classes, 3);
    let host = repo.get_class("root/virt", "T_Host").unwrap();
    assert_eq!(host.keys().count(), 1);
    assert!(repo
        .get_class("root/virt", "T_Contains")
        .unwrap()
        .is_association());

    // The namespace pragma moves everything after it, includes too.
    let s = compile(&mut repo, "root/virt", "data.mof", &src).unwrap();
    assert_eq!((s.classes, s.instances), (3, 3));
    let insts = repo.instances("root/data");
    match insts[2].get("Parent") {
        Some(CimValue::Reference(p)) => assert_eq!(p.key_str("Id"), Some("h1")),
        other => panic!("{other:?}"),
    }
    assert!(repo.instances("root/virt").is_empty());
}

#[test]
fn errors_in_included_files_name_that_file() {
    let t = tree("err");
    t.write(
        "schema/core/element.mof",
        "class T_Element {\n  string Id\n};\n",
    );
    let src = FsSource::new(&t.0);
    let mut repo = Repository::new();
    compile(&mut repo, "root/virt", "qualifiers.mof", &src).unwrap();
    let e = compile(&mut repo, "root/virt", "schema/all.mof", &src).unwrap_err();
    assert!(e.file.ends_with("element.mof"), "{e}");
    assert_eq!((e.line, e.column), (3, 1));
    assert!(e
        .to_string()
        .contains("expected `;` after property declaration, found `}`"));
}

#[test]
fn include_cycles_on_disk_are_reported() {
    let t = TempDir::new("cycle");
    t.write("a.mof", "#pragma include (\"sub/b.mof\")\n");
    t.write("sub/b.mof", "#pragma include (\"../a.mof\")\n");
    let src = FsSource::new(&t.0);
    let mut repo = Repository::new();
    let e = compile(&mut repo, "root/virt", "a.mof", &src).unwrap_err();
    assert!(e.message.contains("include cycle"), "{e}");
}
