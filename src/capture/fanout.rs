//! AF_PACKET fanout: several capture sockets on one interface, the kernel handing each
//! flow to one of them.
//!
//! Every packet worker opens its own libpcap capture on the interface and the sockets
//! join one fanout group in `PACKET_FANOUT_HASH` mode, in which Linux picks the socket
//! from a symmetric hash of the addresses and ports (`__skb_get_hash_symmetric`), so both
//! directions of a flow reach the same worker; `PACKET_FANOUT_FLAG_DEFRAG` makes the
//! kernel reassemble IP fragments before hashing, so a datagram's later fragments, which
//! carry no ports, follow its first. The first socket asks the kernel for an unused group
//! id (`PACKET_FANOUT_FLAG_UNIQUEID`), so two sensors on one host never share a group.
//! A group is bound to the device its first socket was: when an interface is deleted and
//! created again under its name, the first socket reopened on it starts a new group and
//! the others join that one.
//!
//! This is the only module that may use `unsafe`: neither the `pcap` crate nor `nix`
//! offers the `PACKET_FANOUT` socket option, and the two calls below are plain
//! `setsockopt`/`getsockopt` with an `int` argument on a socket libpcap keeps open
//! for as long as the capture lives.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::{Arc, Mutex, PoisonError};

/// The mode and flags every member of a group uses; the kernel refuses a member whose
/// mode differs.
const MODE: u32 = libc::PACKET_FANOUT_HASH | libc::PACKET_FANOUT_FLAG_DEFRAG;

/// A fanout group on one interface, by the id the kernel gave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group(u16);

/// The group an interface's sockets are in, and how many of them are open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Current {
    group: Group,
    members: usize,
}

/// The fanout group of one interface's sockets, shared by them.
#[derive(Debug, Clone, Default)]
pub struct Membership(Arc<Mutex<Option<Current>>>);

impl PartialEq for Membership {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Membership {}

impl Membership {
    /// Adds `socket` to the interface's group, starting one if there is none yet or if
    /// the one there is bound to a device that has gone (the kernel answers EINVAL).
    /// Once the socket closes, [`Self::leave`] must be called with the group returned.
    ///
    /// # Errors
    /// The kernel refused: not an AF_PACKET socket, or a kernel before Linux 4.13.
    pub fn enter(&self, socket: BorrowedFd<'_>) -> io::Result<Group> {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = current.as_mut() {
            match join(socket, c.group) {
                Ok(()) => {
                    c.members = c.members.saturating_add(1);
                    return Ok(c.group);
                }
                // Our group is open (we count its members) and our mode never changes,
                // so EINVAL says its device is gone: the interface was deleted and made
                // again under its name. Its other members fail their reads and reopen
                // into the group started here.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    tracing::info!(
                        group = c.group.0,
                        "The capture's fanout group is bound to a device that has gone; starting a new one."
                    );
                }
                Err(e) => return Err(e),
            }
        }
        let group = create(socket)?;
        *current = Some(Current { group, members: 1 });
        Ok(group)
    }

    /// A socket that entered `group` is closing. Once the group's last member has, its id
    /// is forgotten: the kernel frees the id and may give it to another process's group,
    /// which the next socket of ours must never join.
    pub fn leave(&self, group: Group) {
        let mut current = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = current.as_mut()
            && c.group == group
        {
            c.members = c.members.saturating_sub(1);
            if c.members == 0 {
                *current = None;
            }
        }
    }
}

/// Makes `socket` the first member of a new group with an id no other group on the host
/// has.
///
/// # Errors
/// The socket is not an AF_PACKET socket, or the kernel predates unique ids (Linux 4.13).
fn create(socket: BorrowedFd<'_>) -> io::Result<Group> {
    set(socket, MODE | libc::PACKET_FANOUT_FLAG_UNIQUEID, 0)?;
    let value = get(socket)?;
    // The option reads back as the id in the low 16 bits, mode and flags above.
    Ok(Group(u16::try_from(value & 0xffff).unwrap_or(0)))
}

/// Adds `socket` to `group`.
///
/// # Errors
/// The group is bound to another interface or mode, or the socket is not an AF_PACKET
/// socket.
fn join(socket: BorrowedFd<'_>, group: Group) -> io::Result<()> {
    set(socket, MODE, group.0)
}

fn set(socket: BorrowedFd<'_>, mode: u32, id: u16) -> io::Result<()> {
    // The kernel reads the id from the low 16 bits and mode and flags from the high ones,
    // the top flag bit included, so the bits are passed as they are.
    let value = libc::c_int::from_ne_bytes(((mode << 16) | u32::from(id)).to_ne_bytes());
    let size = int_size()?;
    // SAFETY: the descriptor is borrowed, so open for the call; `value` is an `int` that
    // lives across the call and `size` is its size, which is what PACKET_FANOUT reads.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            std::ptr::from_ref(&value).cast(),
            size,
        )
    };
    outcome(rc)
}

fn get(socket: BorrowedFd<'_>) -> io::Result<u32> {
    let mut value: libc::c_int = 0;
    let mut size = int_size()?;
    // SAFETY: the descriptor is borrowed, so open for the call; the kernel writes at most
    // `size` bytes into `value`, an `int` of that size living across the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_FANOUT,
            std::ptr::from_mut(&mut value).cast(),
            &raw mut size,
        )
    };
    outcome(rc).map(|()| u32::from_ne_bytes(value.to_ne_bytes()))
}

/// The size of the `int` PACKET_FANOUT takes, as the socket calls want it.
fn int_size() -> io::Result<libc::socklen_t> {
    libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// A socket call's result: 0 is success, anything else left the reason in errno.
fn outcome(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn a_socket_that_is_not_af_packet_is_refused_with_the_os_error() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let membership = Membership::default();
        let err = membership.enter(socket.as_fd()).unwrap_err();
        assert!(err.raw_os_error().is_some(), "{err}");
        assert_eq!(*membership.0.lock().unwrap(), None, "no group was recorded");
    }

    #[test]
    #[ignore = "needs CAP_NET_RAW to open AF_PACKET sockets: scripts/test.sh runs it"]
    fn a_group_whose_members_all_closed_is_never_joined_again() {
        use crate::capture::live::{LiveCapture, LiveOptions};
        let membership = Membership::default();
        let mut options = LiveOptions::new("lo".into());
        options.promiscuous = false;
        options.buffer_bytes = 1 << 20;
        options.fanout = Some(membership.clone());
        let first = LiveCapture::open(&options).unwrap();
        let second = LiveCapture::open(&options).unwrap();
        let group = membership.0.lock().unwrap().map(|c| (c.group, c.members));
        assert!(matches!(group, Some((_, 2))), "{group:?}");
        drop(first);
        assert!(membership.0.lock().unwrap().is_some_and(|c| c.members == 1));
        drop(second);
        assert_eq!(*membership.0.lock().unwrap(), None, "the id is forgotten");
        let third = LiveCapture::open(&options).unwrap();
        assert!(membership.0.lock().unwrap().is_some_and(|c| c.members == 1));
        drop(third);
    }
}
