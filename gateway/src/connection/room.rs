//! Room for connections under the cap: ordinary room for anyone, and a
//! reserve that only `/healthz` and requests with the right credentials
//! may use (the [`super::Admission`] of each request decides).
//!
//! A connection that finds the ordinary room full takes a reserved seat.
//! When the reserve is full too, the newcomer takes the seat of the oldest
//! connection that has not yet shown a request it admits — one from the
//! newcomer's own address (IPv6: its /64) first — so connections that send
//! nothing, or trickle a head, cannot keep the reserve from a client that
//! sends its request at once. Only when every seat holds an admitted
//! connection is the newcomer closed.

use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::config::Connections;
use crate::logins::Client;

/// The room of every connection.
pub struct Rooms {
    ordinary: Arc<Semaphore>,
    reserve: Arc<Mutex<Reserve>>,
}

/// Where a connection was let in.
pub enum Room {
    Ordinary(#[allow(dead_code)] OwnedSemaphorePermit),
    Reserved(Seat),
}

struct Reserve {
    capacity: usize,
    next: u64,
    /// Oldest first.
    seats: Vec<Seated>,
}

struct Seated {
    id: u64,
    client: Client,
    /// Whether a request it sent was admitted: never given up for another.
    admitted: bool,
    /// Cancelled when its seat is given to a newer connection.
    evict: CancellationToken,
}

/// A reserved seat, given back when dropped.
pub struct Seat {
    id: u64,
    reserve: Arc<Mutex<Reserve>>,
    evict: CancellationToken,
}

impl Rooms {
    pub fn new(limits: &Connections) -> Rooms {
        let reserved = limits.reserved_connections.min(limits.max_connections);
        Rooms {
            ordinary: Arc::new(Semaphore::new(limits.max_connections - reserved)),
            reserve: Arc::new(Mutex::new(Reserve {
                capacity: reserved,
                next: 0,
                seats: Vec::new(),
            })),
        }
    }

    /// Room for a new connection from `client`; `None`: close it.
    pub fn enter(&self, client: IpAddr) -> Option<Room> {
        if let Ok(permit) = self.ordinary.clone().try_acquire_owned() {
            return Some(Room::Ordinary(permit));
        }
        let client = Client::of(client);
        let mut reserve = lock(&self.reserve);
        if reserve.seats.len() >= reserve.capacity {
            let waiting = |s: &&Seated| !s.admitted;
            let evicted = reserve
                .seats
                .iter()
                .filter(waiting)
                .find(|s| s.client == client)
                .or_else(|| reserve.seats.iter().find(waiting))
                .map(|s| s.id)?;
            reserve.seats.retain(|s| {
                if s.id == evicted {
                    s.evict.cancel();
                }
                s.id != evicted
            });
        }
        let id = reserve.next;
        reserve.next += 1;
        let evict = CancellationToken::new();
        reserve.seats.push(Seated {
            id,
            client,
            admitted: false,
            evict: evict.clone(),
        });
        Some(Room::Reserved(Seat {
            id,
            reserve: self.reserve.clone(),
            evict,
        }))
    }
}

impl Room {
    pub fn seat(&self) -> Option<&Seat> {
        match self {
            Room::Ordinary(_) => None,
            Room::Reserved(seat) => Some(seat),
        }
    }
}

impl Seat {
    /// A request on it was admitted: it keeps its seat.
    pub fn admitted(&self) {
        let mut reserve = lock(&self.reserve);
        if let Some(seat) = reserve.seats.iter_mut().find(|s| s.id == self.id) {
            seat.admitted = true;
        }
    }

    /// Completes when the seat is given to a newer connection.
    pub fn evicted(&self) -> WaitForCancellationFutureOwned {
        self.evict.clone().cancelled_owned()
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        lock(&self.reserve).seats.retain(|s| s.id != self.id);
    }
}

fn lock(reserve: &Mutex<Reserve>) -> MutexGuard<'_, Reserve> {
    // The list is whole after every change: a panic elsewhere leaves it usable.
    reserve
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn rooms(max: usize, reserved: usize) -> Rooms {
        Rooms::new(&Connections {
            header_timeout: Duration::from_secs(10),
            body_idle_timeout: Duration::from_secs(30),
            body_min_rate: 1024,
            body_min_rate_grace: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: max,
            reserved_connections: reserved,
        })
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    fn is_evicted(seat: &Seat) -> bool {
        seat.evict.is_cancelled()
    }

    #[test]
    fn ordinary_room_first_then_the_reserve() {
        let rooms = rooms(3, 1);
        let a = rooms.enter(ip("10.0.0.1")).expect("room");
        let b = rooms.enter(ip("10.0.0.1")).expect("room");
        assert!(a.seat().is_none() && b.seat().is_none());
        let c = rooms.enter(ip("10.0.0.1")).expect("the reserve");
        assert!(c.seat().is_some());
        drop(a);
        let d = rooms.enter(ip("10.0.0.2")).expect("room freed");
        assert!(d.seat().is_none());
    }

    #[test]
    fn a_newcomer_takes_the_oldest_waiting_seat_of_its_own_address_first() {
        let rooms = rooms(4, 3);
        let _ordinary = rooms.enter(ip("10.0.0.9")).expect("room");
        let slow = rooms.enter(ip("10.0.0.1")).expect("a seat");
        let other = rooms.enter(ip("10.0.0.2")).expect("a seat");
        let slow_again = rooms.enter(ip("10.0.0.1")).expect("a seat");
        let seat = |room: &Room| is_evicted(room.seat().expect("reserved"));
        let _third = rooms.enter(ip("10.0.0.1")).expect("a seat");
        assert!(seat(&slow), "its own oldest first");
        assert!(!seat(&other) && !seat(&slow_again));

        // A new address takes the oldest waiting seat of anyone's.
        let _new = rooms.enter(ip("10.0.0.3")).expect("a seat");
        assert!(seat(&other));
        assert!(!seat(&slow_again));
    }

    #[test]
    fn admitted_seats_are_kept_and_ipv6_counts_by_its_64() {
        let rooms = rooms(3, 2);
        let _ordinary = rooms.enter(ip("10.0.0.9")).expect("room");
        let admin = rooms.enter(ip("2001:db8::1")).expect("a seat");
        admin.seat().expect("reserved").admitted();
        let waiting = rooms.enter(ip("2001:db8::2")).expect("a seat");
        let same_64 = rooms.enter(ip("2001:db8::3")).expect("a seat");
        assert!(is_evicted(waiting.seat().expect("reserved")));
        assert!(!is_evicted(admin.seat().expect("reserved")));
        // Every seat admitted: the newcomer is closed.
        same_64.seat().expect("reserved").admitted();
        assert!(rooms.enter(ip("10.0.0.1")).is_none());
    }
}
