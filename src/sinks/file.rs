//! JSON-lines file sink (or standard output with `-`). A batch is durable once written,
//! flushed and (with `fsync`, the default) synced to disk.

use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::{OutRecord, SinkError};

pub struct FileSink {
    path: String,
    out: Box<dyn AsyncWrite + Unpin + Send>,
    file: Option<tokio::fs::File>,
    fsync: bool,
    buf: Vec<u8>,
}

impl FileSink {
    /// Opens `path` for appending (`-` is standard output), creating parent folders.
    pub async fn open(path: &str, fsync: bool) -> Result<Self, SinkError> {
        let io = |source| SinkError::Io {
            path: path.to_owned(),
            source,
        };
        if path == "-" {
            return Ok(Self {
                path: path.into(),
                out: Box::new(tokio::io::stdout()),
                file: None,
                fsync: false,
                buf: Vec::new(),
            });
        }
        if let Some(parent) = std::path::Path::new(path).parent() {
            if !parent.as_os_str().is_empty() {
                tokio::fs::create_dir_all(parent).await.map_err(io)?;
            }
        }
        let f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(io)?;
        let clone = f.try_clone().await.map_err(io)?;
        Ok(Self {
            path: path.into(),
            out: Box::new(f),
            file: Some(clone),
            fsync,
            buf: Vec::new(),
        })
    }

    pub async fn write(&mut self, records: &[OutRecord]) -> Result<(), SinkError> {
        self.buf.clear();
        for r in records {
            self.buf.extend_from_slice(&r.payload);
            self.buf.push(b'\n');
        }
        let io = |source| SinkError::Io {
            path: self.path.clone(),
            source,
        };
        self.out.write_all(&self.buf).await.map_err(io)?;
        self.out.flush().await.map_err(io)?;
        if self.fsync {
            if let Some(f) = &self.file {
                f.sync_data().await.map_err(io)?;
            }
        }
        Ok(())
    }

    pub async fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().await.map_err(|source| SinkError::Io {
            path: self.path.clone(),
            source,
        })
    }
}
