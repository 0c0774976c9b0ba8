//! JSON-lines source: a file or standard input, one mention per line.
//!
//! Lines are read as bytes (invalid UTF-8 reaches the decoder and the dead-letter output
//! intact). A line longer than the message limit is not held in memory whole: its first
//! `limit + 1` bytes are kept (enough for the decoder to call it `oversized`) and the rest is
//! skipped. Lines holding only whitespace are skipped: they carry no record.

use std::sync::Arc;
use std::time::Instant;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};

use super::{Checkpoint, SourceBatch};
use crate::mention::{Origin, RawRecord};

pub struct FileSource {
    reader: Box<dyn AsyncBufRead + Unpin + Send>,
    path: Arc<str>,
    line: u64,
    max_bytes: usize,
    done: bool,
}

impl FileSource {
    /// Opens `path` (`-` is standard input).
    pub async fn open(path: &str, max_message_bytes: usize) -> std::io::Result<Self> {
        let reader: Box<dyn AsyncBufRead + Unpin + Send> = if path == "-" {
            Box::new(BufReader::with_capacity(1 << 16, tokio::io::stdin()))
        } else {
            let f = tokio::fs::File::open(path).await?;
            Box::new(BufReader::with_capacity(1 << 16, f))
        };
        Ok(Self::from_reader(reader, path, max_message_bytes))
    }

    pub fn from_reader(
        reader: Box<dyn AsyncBufRead + Unpin + Send>,
        path: &str,
        max_message_bytes: usize,
    ) -> Self {
        Self {
            reader,
            path: Arc::from(path),
            line: 0,
            max_bytes: max_message_bytes,
            done: false,
        }
    }

    pub async fn next_batch(&mut self, max: usize) -> Option<SourceBatch> {
        if self.done {
            return None;
        }
        let read_at = Instant::now();
        let mut records = Vec::with_capacity(max.min(4096));
        while records.len() < max {
            match read_line_bounded(&mut self.reader, self.max_bytes + 1).await {
                Ok(Some(line)) => {
                    self.line += 1;
                    if line.iter().all(|b| b.is_ascii_whitespace()) {
                        continue;
                    }
                    records.push(RawRecord {
                        payload: line,
                        key: None,
                        origin: Origin::File {
                            path: self.path.clone(),
                            line: self.line,
                        },
                    });
                }
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    tracing::error!(path = %self.path, line = self.line + 1, error = %e, "cannot read input; stopping this source");
                    self.done = true;
                    break;
                }
            }
        }
        if records.is_empty() && self.done {
            return None;
        }
        Some(SourceBatch {
            records,
            checkpoint: Checkpoint::default(),
            read_at,
        })
    }
}

/// Reads one line without its `\n` / `\r\n`, keeping at most `keep` bytes of it.
async fn read_line_bounded<R: AsyncBufRead + Unpin + ?Sized>(
    r: &mut R,
    keep: usize,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    let mut saw_any = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            break;
        }
        saw_any = true;
        let (chunk, consumed, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], i + 1, true),
            None => (buf, buf.len(), false),
        };
        let room = keep.saturating_sub(out.len());
        out.extend_from_slice(&chunk[..chunk.len().min(room)]);
        r.consume(consumed);
        if end {
            break;
        }
    }
    if !saw_any {
        return Ok(None);
    }
    if out.last() == Some(&b'\r') {
        out.pop();
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(data: &'static [u8], max: usize) -> FileSource {
        FileSource::from_reader(Box::new(BufReader::with_capacity(8, data)), "mem", max)
    }

    #[tokio::test]
    async fn splits_lines_and_skips_blank_ones() {
        let mut s = src(b"a\r\n\n  \nb\nc", 100);
        let b = s.next_batch(10).await.unwrap();
        let lines: Vec<_> = b.records.iter().map(|r| r.payload.clone()).collect();
        assert_eq!(lines, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(
            b.records[1].origin,
            Origin::File {
                path: "mem".into(),
                line: 4
            }
        );
        assert!(s.next_batch(10).await.is_none());
    }

    #[tokio::test]
    async fn long_lines_are_cut_just_past_the_limit() {
        let mut s = src(b"0123456789012345678901234567890123456789\nok\n", 10);
        let b = s.next_batch(10).await.unwrap();
        assert_eq!(b.records[0].payload.len(), 11);
        assert_eq!(b.records[1].payload, b"ok");
    }

    #[tokio::test]
    async fn batches_respect_the_maximum() {
        let mut s = src(b"1\n2\n3\n4\n5\n", 10);
        assert_eq!(s.next_batch(2).await.unwrap().records.len(), 2);
        assert_eq!(s.next_batch(2).await.unwrap().records.len(), 2);
        assert_eq!(s.next_batch(2).await.unwrap().records.len(), 1);
        assert!(s.next_batch(2).await.is_none());
    }
}
