//! The durable outbox: one on-disk queue per receiver that holds every notification until the
//! receiver accepted it.
//!
//! Layout of `<outbox>/<receiver>/`:
//! - `queue.jsonl`: appended and fsynced before [`Outbox::push`] returns (so before the pipeline
//!   commits the offsets that produced the notifications); one [`Entry`] per line;
//! - `state.json`: the last acknowledged sequence number and the recent idempotency keys,
//!   replaced atomically (temporary file, fsync, rename) after each delivery;
//! - `failed.jsonl`: notifications the receiver rejected for good (4xx), with the reason;
//! - `active.json` (Alertmanager receivers): firing alerts re-sent until resolved.
//!
//! On open, entries up to the acknowledged sequence are skipped, a torn last line (crash during
//! an append) is dropped, and the queue file is rewritten with what is left. Delivery is
//! at least once; the idempotency key of every notification lets receivers drop a repeat, and
//! keys already queued or recently delivered are not queued twice (a replayed incident event
//! after a crash is not a second notification).

use serde::{Deserialize, Serialize};
use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::alert::Notification;

/// Recent delivered keys remembered across restarts.
const RECENT_KEYS: usize = 2000;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    /// Unix milliseconds when it was queued.
    pub queued_at_ms: i64,
    pub notification: Notification,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
struct State {
    acked: u64,
    recent_keys: VecDeque<String>,
}

struct Inner {
    file: File,
    queue: VecDeque<Entry>,
    next_seq: u64,
    state: State,
    keys: HashSet<String>,
}

pub struct Outbox {
    dir: PathBuf,
    inner: Mutex<Inner>,
    notify: tokio::sync::Notify,
}

fn io_err(path: &Path, e: std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err(&tmp, e))?;
        f.sync_all().map_err(|e| io_err(&tmp, e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// The acknowledged state and the undelivered entries of the outbox at `dir`, and how many
/// lines were torn. Reads only.
fn read(dir: &Path) -> std::io::Result<(State, VecDeque<Entry>, usize)> {
    let state_path = dir.join("state.json");
    let state: State = match std::fs::read(&state_path) {
        Ok(b) => serde_json::from_slice(&b).map_err(|e| {
            io_err(
                &state_path,
                std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            )
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(io_err(&state_path, e)),
    };
    let qpath = dir.join("queue.jsonl");
    let mut queue = VecDeque::new();
    let mut torn = 0;
    if let Ok(f) = File::open(&qpath) {
        for line in BufReader::new(f).lines() {
            let line = line.map_err(|e| io_err(&qpath, e))?;
            match serde_json::from_str::<Entry>(&line) {
                Ok(e) if e.seq > state.acked => queue.push_back(e),
                Ok(_) => {}
                Err(_) => torn += 1,
            }
        }
    }
    Ok((state, queue, torn))
}

impl Outbox {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
        let (state, queue, torn) = read(dir)?;
        let qpath = dir.join("queue.jsonl");
        if torn > 0 {
            tracing::warn!(dir = %dir.display(), torn, "outbox: dropped a torn line (crash during an append; its batch was not committed and is re-read)");
        }
        let next_seq = queue.back().map_or(state.acked, |e| e.seq) + 1;
        // Rewrite the queue with what is left (drops acknowledged entries and torn lines).
        let mut text = Vec::new();
        for e in &queue {
            text.extend(serde_json::to_vec(e).unwrap_or_default());
            text.push(b'\n');
        }
        write_atomic(&qpath, &text)?;
        let file = OpenOptions::new()
            .append(true)
            .open(&qpath)
            .map_err(|e| io_err(&qpath, e))?;
        let mut keys: HashSet<String> = state.recent_keys.iter().cloned().collect();
        keys.extend(queue.iter().map(|e| e.notification.key.clone()));
        Ok(Outbox {
            dir: dir.to_owned(),
            inner: Mutex::new(Inner {
                file,
                queue,
                next_seq,
                state,
                keys,
            }),
            notify: tokio::sync::Notify::new(),
        })
    }

    /// Entries waiting in the outbox at `dir`, read without touching it (safe while a
    /// pipeline runs).
    pub fn pending(dir: &Path) -> std::io::Result<usize> {
        Ok(read(dir)?.1.len())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends and fsyncs; returns how many were new (repeated keys are skipped).
    pub fn push(&self, notes: Vec<Notification>, now_ms: i64) -> std::io::Result<usize> {
        let mut g = self.lock();
        let mut buf = Vec::new();
        let mut added = Vec::new();
        for n in notes {
            if !g.keys.insert(n.key.clone()) {
                continue;
            }
            let e = Entry {
                seq: g.next_seq,
                queued_at_ms: now_ms,
                notification: n,
            };
            g.next_seq += 1;
            buf.extend(serde_json::to_vec(&e).unwrap_or_default());
            buf.push(b'\n');
            added.push(e);
        }
        if added.is_empty() {
            return Ok(0);
        }
        let qpath = self.dir.join("queue.jsonl");
        g.file.write_all(&buf).map_err(|e| io_err(&qpath, e))?;
        g.file.sync_data().map_err(|e| io_err(&qpath, e))?;
        let n = added.len();
        g.queue.extend(added);
        drop(g);
        self.notify.notify_one();
        Ok(n)
    }

    /// The oldest undelivered entry.
    pub fn peek(&self) -> Option<Entry> {
        self.lock().queue.front().cloned()
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until something is pushed (returns at once if a push happened since the last wait).
    pub async fn wait(&self) {
        self.notify.notified().await
    }

    /// Marks the head entry `seq` delivered.
    pub fn ack(&self, seq: u64) -> std::io::Result<()> {
        let mut g = self.lock();
        let Some(pos) = g.queue.iter().position(|e| e.seq == seq) else {
            return Ok(());
        };
        let e = g.queue.remove(pos).expect("position is in range");
        g.state.acked = g.state.acked.max(seq);
        g.state.recent_keys.push_back(e.notification.key);
        while g.state.recent_keys.len() > RECENT_KEYS {
            if let Some(k) = g.state.recent_keys.pop_front() {
                if !g.queue.iter().any(|q| q.notification.key == k) {
                    g.keys.remove(&k);
                }
            }
        }
        let bytes = serde_json::to_vec(&g.state).unwrap_or_default();
        write_atomic(&self.dir.join("state.json"), &bytes)?;
        if g.queue.is_empty() {
            // Everything is delivered: start the queue file afresh.
            g.file.set_len(0)?;
            g.file.sync_data()?;
        }
        Ok(())
    }

    /// Moves an entry the receiver rejected for good to `failed.jsonl`, with the reason.
    pub fn fail(&self, entry: &Entry, reason: &str) -> std::io::Result<()> {
        let path = self.dir.join("failed.jsonl");
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        let line = serde_json::json!({
            "failed_at": crate::clock::rfc3339(chrono::Utc::now().timestamp_millis()),
            "reason": reason,
            "entry": entry,
        });
        writeln!(f, "{line}").map_err(|e| io_err(&path, e))?;
        f.sync_data().map_err(|e| io_err(&path, e))?;
        self.ack(entry.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::alert::{Alert, Notification};

    fn note(key: &str) -> Notification {
        Notification {
            key: key.into(),
            status: "firing".into(),
            event: "opened".into(),
            incident_id: "i".into(),
            alert: Alert::default(),
            incident: None,
        }
    }

    #[test]
    fn survives_restart_and_skips_what_was_delivered() {
        let dir = tempfile::tempdir().unwrap();
        {
            let o = Outbox::open(dir.path()).unwrap();
            assert_eq!(o.push(vec![note("a"), note("b"), note("c")], 1).unwrap(), 3);
            assert_eq!(
                o.push(vec![note("b")], 2).unwrap(),
                0,
                "a queued key is not queued twice"
            );
            let head = o.peek().unwrap();
            assert_eq!(head.notification.key, "a");
            o.ack(head.seq).unwrap();
        }
        // A crash during an append leaves a torn line.
        let q = dir.path().join("queue.jsonl");
        let mut f = OpenOptions::new().append(true).open(&q).unwrap();
        f.write_all(b"{\"seq\":9,\"queued").unwrap();
        drop(f);
        let o = Outbox::open(dir.path()).unwrap();
        let keys: Vec<_> = std::iter::from_fn(|| {
            let e = o.peek()?;
            o.ack(e.seq).unwrap();
            Some(e.notification.key)
        })
        .collect();
        assert_eq!(keys, ["b", "c"]);
        assert_eq!(
            std::fs::metadata(&q).unwrap().len(),
            0,
            "emptied once all is delivered"
        );
        assert_eq!(
            o.push(vec![note("c")], 3).unwrap(),
            0,
            "recently delivered keys are remembered"
        );
        drop(o);
        let o = Outbox::open(dir.path()).unwrap();
        assert_eq!(
            o.push(vec![note("a"), note("d")], 4).unwrap(),
            1,
            "also after a restart"
        );
        assert!(o.peek().unwrap().seq > 3, "sequence numbers keep growing");
    }

    #[test]
    fn rejected_entries_are_kept_with_their_reason() {
        let dir = tempfile::tempdir().unwrap();
        let o = Outbox::open(dir.path()).unwrap();
        o.push(vec![note("x")], 1).unwrap();
        let e = o.peek().unwrap();
        o.fail(&e, "HTTP 400: bad labels").unwrap();
        assert!(o.is_empty());
        let failed = std::fs::read_to_string(dir.path().join("failed.jsonl")).unwrap();
        assert!(
            failed.contains("HTTP 400: bad labels") && failed.contains("\"x\""),
            "{failed}"
        );
    }
}
