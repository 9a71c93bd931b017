//! Embeds the sample tenant (`samples/`) in the binary, so `demo` runs from any copy of it: lists
//! the folder's files at build time and writes one `include_bytes!` per file into
//! `$OUT_DIR/samples.rs`, sorted by name.

use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    println!("cargo::rerun-if-changed=samples");
    let mut names: Vec<String> = std::fs::read_dir(&root)
        .expect("the samples/ folder of the source tree is missing")
        .map(|e| e.expect("cannot read samples/"))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| {
            e.file_name()
                .into_string()
                .expect("a sample file name is not UTF-8")
        })
        .collect();
    names.sort();
    let mut code = String::from("&[\n");
    for name in &names {
        let path = root.join(name);
        println!("cargo::rerun-if-changed=samples/{name}");
        code.push_str(&format!(
            "    ({name:?}, include_bytes!({:?}).as_slice()),\n",
            path.display().to_string()
        ));
    }
    code.push_str("]\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("samples.rs");
    std::fs::write(out, code).expect("cannot write samples.rs");
}
