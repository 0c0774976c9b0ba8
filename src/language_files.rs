//! Folders of per-language TOML files that operators edit (scoring lexicons, broadcast
//! templates): every `<lang>.toml` of a folder, in name order. Each caller parses its own
//! format and checks that the file's `language` matches its name.

use std::path::Path;

pub struct LanguageFile {
    /// The path, for error messages.
    pub file: String,
    /// The file name without `.toml`: the language it must declare.
    pub stem: String,
    pub text: String,
}

/// The `.toml` files of `dir`; an error names the file or folder that could not be read.
pub fn read_dir(dir: &Path) -> Result<Vec<LanguageFile>, (String, std::io::Error)> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| (dir.display().to_string(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(&p).map_err(|e| (file.clone(), e))?;
            let stem = p
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default()
                .to_string();
            Ok(LanguageFile { file, stem, text })
        })
        .collect()
}
