//! The media threads: a few plain threads (one per core) that move every relay's packets on a
//! 20 ms tick. Each tick a thread reads what has arrived on each of its relays' sockets
//! (non-blocking, bounded per socket) and forwards it, so a packet costs a read and a send and
//! no wake-up of its own: the threads sleep between ticks instead of waking per packet. A
//! relay is given to one thread for its life (round robin) and leaves it when dropped.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use super::forward::Legs;

/// How often a media thread reads its sockets: one RTP packet's worth of audio (G.711 at
/// 20 ms ptime), so a leg's packet waits at most this long in the relay.
pub(super) const TICK: Duration = Duration::from_millis(20);

/// The media threads, each with the sender that hands it new relays.
struct Threads {
    inlets: Vec<Mutex<Sender<Weak<Legs>>>>,
    next: AtomicUsize,
}

fn threads() -> &'static Threads {
    static THREADS: OnceLock<Threads> = OnceLock::new();
    THREADS.get_or_init(|| {
        let count = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 8));
        let inlets = (0..count)
            .filter_map(|n| {
                let (inlet, outlet) = channel();
                std::thread::Builder::new()
                    .name(format!("media-{n}"))
                    .spawn(move || run(&outlet))
                    .ok()
                    .map(|_| Mutex::new(inlet))
            })
            .collect();
        Threads {
            inlets,
            next: AtomicUsize::new(0),
        }
    })
}

/// Hands `legs` to a media thread, which forwards its packets until the last `Arc` to it is
/// dropped.
pub(super) fn attach(legs: &Arc<Legs>) -> std::io::Result<()> {
    let threads = threads();
    let count = threads.inlets.len();
    if count == 0 {
        return Err(std::io::Error::other("no media thread could be started"));
    }
    let n = threads.next.fetch_add(1, Ordering::Relaxed) % count;
    let sent = threads.inlets[n]
        .lock()
        .map_err(|_| std::io::Error::other("media thread hand-off poisoned"))?
        .send(Arc::downgrade(legs));
    sent.map_err(|_| std::io::Error::other("media thread stopped"))
}

/// One media thread: waits for a first relay, then ticks while it has any.
fn run(inlet: &Receiver<Weak<Legs>>) {
    let mut relays: Vec<Weak<Legs>> = Vec::new();
    let mut buffer = [0u8; 2_048];
    let mut next = Instant::now();
    loop {
        if relays.is_empty() {
            let Ok(first) = inlet.recv() else { return };
            relays.push(first);
            next = Instant::now();
        }
        relays.extend(inlet.try_iter());
        relays.retain(|relay| match relay.upgrade() {
            Some(legs) => {
                legs.pump(&mut buffer);
                true
            }
            None => false,
        });
        next += TICK;
        let now = Instant::now();
        match next.checked_duration_since(now) {
            Some(wait) => std::thread::sleep(wait),
            None => next = now, // behind (an overloaded machine): tick again at once
        }
    }
}
