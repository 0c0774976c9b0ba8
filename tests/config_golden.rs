//! Golden bad-config tests: each file in tests/bad_configs states the error it must produce on
//! its first line (`# expect: …`). Every error names the file; every shipped pipeline is valid.

use std::path::Path;
use tocsin::config::PipelineConfig;

#[test]
fn every_bad_config_gives_its_expected_error() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad_configs");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks a `# expect:` first line", path.display()));
        let err = PipelineConfig::load(&path)
            .expect_err("must be rejected")
            .to_string();
        assert!(
            err.contains(expect),
            "{}:\n  expected: {expect}\n  got: {err}",
            path.display()
        );
        assert!(
            err.starts_with(&path.display().to_string()),
            "error must name the file: {err}"
        );
        n += 1;
    }
    assert!(n >= 10);
}

#[test]
fn every_shipped_pipeline_is_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            PipelineConfig::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 2);
}
