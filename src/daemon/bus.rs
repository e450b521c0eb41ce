//! The event stream (`vipctl watch`): events are numbered here and only
//! here, from the daemon's one thread, so their numbers follow the order
//! in which the daemon acted, without gaps, across every kind of event.
//!
//! Lines go to the watchers through a bounded broadcast channel: the daemon
//! never waits for a watcher; one that falls behind by more than
//! [`BUFFER`] lines is told how many it missed and goes on.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{broadcast, mpsc};

use crate::watch::{Event, EventLine};

/// Lines kept for a slow watcher.
pub const BUFFER: usize = 1024;

/// Seconds since the Unix epoch, for event times and status.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub struct Bus {
    seq: u64,
    /// None once closed (shutdown).
    tx: Option<broadcast::Sender<Arc<str>>>,
    /// Each watcher's task holds a clone; when all are gone, `gone` ends.
    alive: Option<mpsc::Sender<()>>,
    gone: mpsc::Receiver<()>,
}

/// What a new watcher gets: where the lines after the snapshot come from,
/// and a token its task holds while it runs (shutdown waits for it).
pub struct Subscription {
    pub lines: broadcast::Receiver<Arc<str>>,
    pub alive: mpsc::Sender<()>,
}

impl Default for Bus {
    fn default() -> Bus {
        let (alive, gone) = mpsc::channel(1);
        Bus {
            seq: 0,
            tx: Some(broadcast::channel(BUFFER).0),
            alive: Some(alive),
            gone,
        }
    }
}

impl Bus {
    /// Numbers the event and sends it to every watcher; returns its number
    /// (notify hooks get it as `VIPD_SEQ`). Numbered with or without
    /// watchers, so the numbers in hooks and logs stay comparable.
    pub fn emit(&mut self, event: Event) -> u64 {
        self.seq += 1;
        if let Some(tx) = self.tx.as_ref().filter(|tx| tx.receiver_count() > 0) {
            let line = EventLine {
                seq: self.seq,
                time: unix_now(),
                event,
            };
            if let Ok(text) = serde_json::to_string(&line) {
                let _ = tx.send(Arc::from(text));
            }
        }
        self.seq
    }

    /// The number of the last event.
    pub fn last_seq(&self) -> u64 {
        self.seq
    }

    /// A new watcher: it gets every event after [`Bus::last_seq`] (None
    /// once the bus is closed).
    pub fn subscribe(&self) -> Option<Subscription> {
        Some(Subscription {
            lines: self.tx.as_ref()?.subscribe(),
            alive: self.alive.clone()?,
        })
    }

    /// Ends the stream (shutdown): watchers get what is buffered, then the
    /// end; waits up to `within` for their tasks to write it.
    pub async fn close(&mut self, within: Duration) {
        self.tx = None;
        self.alive = None;
        let _ = tokio::time::timeout(within, self.gone.recv()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn numbers_without_gaps_and_ends_the_stream() {
        let mut bus = Bus::default();
        // Numbered without watchers too.
        assert_eq!(
            bus.emit(Event::VipsRestored {
                instance: "a".into()
            }),
            1
        );
        let mut sub = bus.subscribe().unwrap();
        assert_eq!(bus.last_seq(), 1);
        bus.emit(Event::VipsRestored {
            instance: "b".into(),
        });
        bus.emit(Event::HealthFault {
            instance: "b".into(),
            fault: true,
        });
        let watcher = tokio::spawn(async move {
            let mut seqs = Vec::new();
            while let Ok(line) = sub.lines.recv().await {
                let l: EventLine = serde_json::from_str(&line).unwrap();
                seqs.push(l.seq);
            }
            drop(sub.alive);
            seqs
        });
        bus.close(Duration::from_secs(5)).await;
        assert!(watcher.is_finished(), "close waited for the watcher");
        assert_eq!(watcher.await.unwrap(), [2, 3]);
        assert!(bus.subscribe().is_none());
    }

    #[tokio::test]
    async fn a_slow_watcher_lags_and_never_blocks() {
        let mut bus = Bus::default();
        let mut sub = bus.subscribe().unwrap();
        for _ in 0..BUFFER + 5 {
            bus.emit(Event::VipsRestored {
                instance: "a".into(),
            });
        }
        match sub.lines.recv().await {
            Err(broadcast::error::RecvError::Lagged(n)) => assert_eq!(n, 5),
            other => panic!("{other:?}"),
        }
        let next: EventLine = serde_json::from_str(&sub.lines.recv().await.unwrap()).unwrap();
        assert_eq!(next.seq, 6);
    }
}
