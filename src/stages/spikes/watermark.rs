//! Event-time watermark across input partitions.
//!
//! Kafka partitions are read at different speeds, most of all when Tocsin catches up on a
//! backlog: one partition's mentions can be an hour ahead of another's. A single "newest event
//! time seen" watermark would then close buckets early and count the slower partitions'
//! mentions as late. Like Flink and Arroyo, the watermark is the minimum over partitions of
//! each one's newest event time; a partition that delivered nothing for `idle_ms` of processing
//! time stops holding it back (a quiet partition must not stall incident detection).
//!
//! The stage does not know which partitions it is assigned, so after the first Kafka mention
//! the watermark holds for `idle_ms`: every assigned partition with data delivers within that
//! time, and none of their mentions is taken for late because another partition came first.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Millis;
use crate::mention::Origin;

struct Part {
    newest_event: Millis,
    last_seen: Millis,
}

pub struct Watermarks {
    parts: HashMap<(Option<Arc<str>>, i32), Part>,
    idle_ms: i64,
    /// Processing time of the first Kafka mention.
    first_kafka: Option<Millis>,
}

impl Watermarks {
    pub fn new(idle_ms: i64) -> Self {
        Watermarks {
            parts: HashMap::new(),
            idle_ms,
            first_kafka: None,
        }
    }

    /// Records a mention from `origin` with event time `event_ms`, read at `now_ms`.
    pub fn observe(&mut self, origin: &Origin, event_ms: Millis, now_ms: Millis) {
        let key = match origin {
            Origin::Kafka {
                topic, partition, ..
            } => {
                self.first_kafka.get_or_insert(now_ms);
                (Some(topic.clone()), *partition)
            }
            _ => (None, 0),
        };
        let p = self.parts.entry(key).or_insert(Part {
            newest_event: event_ms,
            last_seen: now_ms,
        });
        p.newest_event = p.newest_event.max(event_ms);
        p.last_seen = now_ms;
    }

    /// The watermark at processing time `now_ms`: the slowest active partition's newest event
    /// time (the newest of all when every partition is idle); `Millis::MIN` before any input.
    pub fn current(&self, now_ms: Millis) -> Millis {
        if self.first_kafka.is_some_and(|t| now_ms - t < self.idle_ms) {
            return Millis::MIN;
        }
        let active = self
            .parts
            .values()
            .filter(|p| now_ms - p.last_seen <= self.idle_ms)
            .map(|p| p.newest_event)
            .min();
        active.unwrap_or_else(|| {
            self.parts
                .values()
                .map(|p| p.newest_event)
                .max()
                .unwrap_or(Millis::MIN)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kafka(partition: i32) -> Origin {
        Origin::Kafka {
            topic: Arc::from("mentions"),
            partition,
            offset: 0,
        }
    }

    #[test]
    fn the_slowest_active_partition_holds_the_watermark() {
        let mut w = Watermarks::new(30_000);
        assert_eq!(w.current(0), Millis::MIN);
        w.observe(&kafka(0), 3_600_000, 1_000);
        assert_eq!(
            w.current(1_000),
            Millis::MIN,
            "waits for the other partitions"
        );
        w.observe(&kafka(1), 60_000, 1_000);
        assert_eq!(w.current(20_000), Millis::MIN);
        assert_eq!(w.current(31_000), 60_000, "partition 1 is an hour behind");
        w.observe(&kafka(0), 3_600_000, 32_000);
        w.observe(&kafka(1), 120_000, 32_000);
        assert_eq!(w.current(32_000), 120_000);
        // Partition 1 goes quiet: after the idle time it no longer holds the watermark.
        w.observe(&kafka(0), 3_700_000, 70_000);
        assert_eq!(w.current(70_000), 3_700_000);
        // Everything idle: the newest event time seen.
        assert_eq!(w.current(1_000_000), 3_700_000);
    }

    #[test]
    fn files_and_generators_are_one_partition() {
        let mut w = Watermarks::new(30_000);
        w.observe(&Origin::Generated { seq: 1 }, 500, 0);
        w.observe(&Origin::Generated { seq: 2 }, 400, 0);
        assert_eq!(w.current(0), 500);
    }
}
