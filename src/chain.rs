//! Stages pipelined across threads: each group of stages runs on its own thread, joined to the
//! next by a bounded channel, so dedup works on batch k+1 while scoring and spike detection
//! work on batch k.
//!
//! Contract: a [`Chain`] gives the same results as calling the stages one after another on
//! each [`Unit`] in the order sent: every stage sees the units in order, a batch keeps its
//! order and length, and each unit's records ([`Unit::outputs`]) are the stages' outputs in
//! stage order, as the sequential loop drains them. The time a unit carries is handed to each
//! group's `on_time` hook before the group runs it, so a replay that sets a manual clock there
//! stays deterministic although the groups run at different moments. Channels hold at most
//! `capacity` units each: a slow group blocks the one before it, never queues without bound.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use crate::clock::Millis;
use crate::mention::Mention;
use crate::pipeline::Stage;
use crate::sinks::OutRecord;

/// What a unit asks of the stages.
pub enum Work {
    /// Process these mentions.
    Batch(Vec<Mention>),
    /// Let time pass (close buckets, expire state) with no data.
    Tick,
}

/// One step through the chain, with the time the stages should see.
pub struct Unit {
    pub now_ms: Millis,
    pub work: Work,
    /// Records the stages produced for this unit (incident events), in stage order.
    pub outputs: Vec<OutRecord>,
}

impl Unit {
    pub fn batch(now_ms: Millis, mentions: Vec<Mention>) -> Self {
        Unit {
            now_ms,
            work: Work::Batch(mentions),
            outputs: Vec::new(),
        }
    }
    pub fn tick(now_ms: Millis) -> Self {
        Unit {
            now_ms,
            work: Work::Tick,
            outputs: Vec::new(),
        }
    }
}

/// Stages that run together on one thread.
pub struct Group {
    pub stages: Vec<Box<dyn Stage>>,
    /// Called with each unit's time before the group runs it (e.g. to set a manual clock).
    pub on_time: Option<Box<dyn FnMut(Millis) + Send>>,
}

impl Group {
    pub fn new(stages: Vec<Box<dyn Stage>>) -> Self {
        Group {
            stages,
            on_time: None,
        }
    }

    /// Runs `unit` through the group's stages, as the sequential loop would.
    pub fn run(&mut self, unit: &mut Unit) {
        if let Some(f) = self.on_time.as_mut() {
            f(unit.now_ms);
        }
        match &mut unit.work {
            Work::Batch(batch) => {
                for s in self.stages.iter_mut() {
                    s.process(batch);
                }
            }
            Work::Tick => {
                for s in self.stages.iter_mut() {
                    s.tick(unit.now_ms);
                }
            }
        }
        for s in self.stages.iter_mut() {
            unit.outputs.extend(s.drain_outputs());
        }
    }
}

/// Threads running groups of stages, in order. Dropping it closes the input; [`Chain::finish`]
/// also waits for the threads and returns the units still in flight.
pub struct Chain {
    input: Option<SyncSender<Unit>>,
    output: Receiver<Unit>,
    threads: Vec<JoinHandle<()>>,
}

impl Chain {
    /// One thread per group. With `keep_batches` false the units that come out carry
    /// `Work::Tick` in place of their batch (freeing mentions is work the last thread does).
    pub fn spawn(groups: Vec<Group>, capacity: usize, keep_batches: bool) -> Self {
        let capacity = capacity.max(1);
        let (input, mut rx) = sync_channel::<Unit>(capacity);
        let mut threads = Vec::new();
        let n = groups.len();
        for (i, mut g) in groups.into_iter().enumerate() {
            let (tx, next_rx) = sync_channel::<Unit>(capacity);
            let last = i + 1 == n;
            let h = std::thread::Builder::new()
                .name(format!("tocsin-stages-{i}"))
                .spawn(move || {
                    while let Ok(mut u) = rx.recv() {
                        g.run(&mut u);
                        if last && !keep_batches {
                            u.work = Work::Tick;
                        }
                        if tx.send(u).is_err() {
                            return;
                        }
                    }
                })
                .expect("spawning a stage thread");
            threads.push(h);
            rx = next_rx;
        }
        Chain {
            input: Some(input),
            output: rx,
            threads,
        }
    }

    /// Sends a unit, calling `done` with each finished unit that has to be taken out meanwhile
    /// (when every channel is full). Blocks while the chain is full and nothing is finished.
    pub fn send(&mut self, mut unit: Unit, mut done: impl FnMut(Unit)) {
        let Some(input) = self.input.as_ref() else {
            return;
        };
        loop {
            match input.try_send(unit) {
                Ok(()) => break,
                Err(TrySendError::Full(u)) => {
                    unit = u;
                    match self.output.recv() {
                        Ok(d) => done(d),
                        Err(_) => return, // a stage thread panicked; finish() reports it
                    }
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        while let Ok(d) = self.output.try_recv() {
            done(d);
        }
    }

    /// Closes the input, passes every unit still in flight to `done`, and joins the threads.
    /// Panics if a stage panicked (as the sequential loop would have).
    pub fn finish(mut self, mut done: impl FnMut(Unit)) {
        self.input = None;
        while let Ok(d) = self.output.recv() {
            done(d);
        }
        for t in self.threads.drain(..) {
            if let Err(p) = t.join() {
                std::panic::resume_unwind(p);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use crate::mention::{decode, DecodeLimits, Origin, RawRecord};

    /// Appends its mark to each mention's id and reports, per unit, the time its clock showed.
    struct Mark {
        mark: char,
        clock: Option<ManualClock>,
        seen: Vec<Millis>,
    }

    impl Stage for Mark {
        fn name(&self) -> &'static str {
            "mark"
        }
        fn process(&mut self, batch: &mut [Mention]) {
            for m in batch.iter_mut() {
                m.id.push(self.mark);
            }
            if let Some(c) = &self.clock {
                self.seen.push(c.now_ms());
            }
        }
        fn tick(&mut self, now_ms: Millis) {
            self.seen.push(-now_ms);
        }
        fn drain_outputs(&mut self) -> Vec<OutRecord> {
            self.seen
                .drain(..)
                .map(|t| OutRecord {
                    key: None,
                    payload: format!("{}{t}", self.mark).into_bytes(),
                    headers: Vec::new(),
                })
                .collect()
        }
    }

    fn mention(id: &str) -> Mention {
        let payload = serde_json::json!({
            "id": id, "platform": "twitter", "created_at": "2026-11-17T10:15:00Z",
            "text": "t", "author": {"id": "u", "handle": "@u"},
        });
        let raw = RawRecord {
            payload: serde_json::to_vec(&payload).unwrap(),
            key: None,
            origin: Origin::Generated { seq: 0 },
        };
        decode(raw, &DecodeLimits::default(), 1_800_000_000_000).unwrap()
    }

    fn units() -> Vec<Unit> {
        (0..50)
            .map(|i| {
                if i % 7 == 3 {
                    Unit::tick(i * 10)
                } else {
                    Unit::batch(i * 10, vec![mention(&i.to_string()), mention("x")])
                }
            })
            .collect()
    }

    fn groups(clock: &ManualClock) -> Vec<Group> {
        let mk = |mark, clock: Option<ManualClock>| -> Box<dyn Stage> {
            Box::new(Mark {
                mark,
                clock,
                seen: Vec::new(),
            })
        };
        let c = clock.clone();
        vec![
            Group::new(vec![mk('a', None), mk('b', None)]),
            Group {
                stages: vec![mk('c', Some(clock.clone()))],
                on_time: Some(Box::new(move |t| c.set(t))),
            },
        ]
    }

    fn summary(u: &Unit) -> (Vec<String>, Vec<String>) {
        let ids = match &u.work {
            Work::Batch(b) => b.iter().map(|m| m.id.to_string()).collect(),
            Work::Tick => Vec::new(),
        };
        let outs = u
            .outputs
            .iter()
            .map(|o| String::from_utf8_lossy(&o.payload).into_owned())
            .collect();
        (ids, outs)
    }

    #[test]
    fn a_chain_gives_what_the_stages_give_one_after_another() {
        let clock = ManualClock::new(0);
        let mut seq = groups(&clock);
        let want: Vec<_> = units()
            .into_iter()
            .map(|mut u| {
                for g in seq.iter_mut() {
                    g.run(&mut u);
                }
                summary(&u)
            })
            .collect();
        // A capacity of 1 forces the sender to take finished units out while it sends.
        for capacity in [1, 4] {
            let clock = ManualClock::new(0);
            let mut chain = Chain::spawn(groups(&clock), capacity, true);
            let mut got = Vec::new();
            for u in units() {
                chain.send(u, |d| got.push(summary(&d)));
            }
            chain.finish(|d| got.push(summary(&d)));
            assert_eq!(got, want, "capacity {capacity}");
        }
        assert!(want[0].0[0].ends_with("abc"));
        assert_eq!(want[1].1, vec!["c10".to_string()]);
    }

    #[test]
    fn without_kept_batches_only_outputs_come_out() {
        let clock = ManualClock::new(0);
        let mut chain = Chain::spawn(groups(&clock), 2, false);
        let mut outs = 0;
        for u in units() {
            chain.send(u, |d| {
                assert!(matches!(d.work, Work::Tick));
                outs += d.outputs.len();
            });
        }
        chain.finish(|d| outs += d.outputs.len());
        // 7 ticks and 43 batches: every stage reports each tick, only c (with a clock) each
        // batch.
        assert_eq!(outs, 3 * 7 + 43);
    }
}
